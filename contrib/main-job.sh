#!/usr/bin/env bash
# The README's main job, as far as the code goes today: install vTorque into a scratch prefix with a
# scratch mom_priv (keeping a site prologue as prologue.orig), register an image, submit a VM job
# through the installed vsub as a dry run, run the installed prologue on a plain job the way pbs_mom
# does, then uninstall and show mom_priv is exactly as before. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bash contrib/install-prerequisites.sh
npm run --silent build

demo=$(mktemp -d /tmp/vtorque-demo.XXXXXX)
prefix=$demo/prefix
mom=$demo/torque/mom_priv
setup=(node "$repo/dist/vtorque.mjs" setup --prefix "$prefix" --mom-priv "$mom" --config "$demo/etc/config.yaml" --profile-dir "$demo/profile.d")
cleanup() {
  [ -f "$prefix/lib/vtorque/install-manifest.json" ] && "${setup[@]}" --uninstall >/dev/null 2>&1 || true
  rm -rf "$demo"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
snapshot() { (cd "$mom" && find . -printf '%m %y %p\n' | sort && find . -type f -exec sha256sum {} + | sort); }

mkdir -p "$mom/jobs" "$demo/pool" "$demo/work" "$demo/etc"
printf '#!/bin/sh\necho "site prologue ran for job $1"\n' > "$mom/prologue"
chmod 0500 "$mom/prologue"
before=$(snapshot)

step "install into $prefix (mom_priv: $mom)"
"${setup[@]}"
ls -l "$mom"

step "site config for this demo"
cat > "$demo/etc/config.yaml" <<YAML
TORQUE_HOME: $demo/torque
VM_IMG_DIR: $demo/pool
VCPUS_DEFAULT: 1
RAM_DEFAULT: 1G
HOST_OS_RAM_MB: 1024
YAML
export VTORQUE_CONFIG=$demo/etc/config.yaml
"$prefix/bin/vtorque" config check --node

step "register an image (an empty 2 GiB qcow2 until the image builder lands)"
qemu-img create -q -f qcow2 "$demo/debian-12-x86_64.qcow2" 2G
"$prefix/bin/vmgr" add "$demo/debian-12-x86_64.qcow2" "Debian 12 placeholder disk"
"$prefix/bin/vmgr" show images

step "submit a VM job with the installed vsub (dry run: prints qsub's argv, the request, the wrapper)"
cat > "$demo/work/hello.sh" <<'JOB'
#!/bin/sh
#PBS -N hello-vm
#PBS -l walltime=00:10:00
#PBS -vm vcpus=1,ram=1G
uname -a; id; cat /etc/os-release; env | grep '^PBS_' | sort
JOB
(cd "$demo/work" && "$prefix/bin/vsub" --dry-run hello.sh)

step "a plain job through the installed prologue, called as pbs_mom calls it (8 args, near-empty env)"
printf '#!/bin/sh\necho plain\n' > "$mom/jobs/1.demo.SC"
start=$(date +%s%N)
env -i PATH=/bin:/usr/bin PBS_JOBID= "$mom/prologue" 1.demo alice alice plainjob nodes=1 batch '' "$mom/jobs/1.demo.SC"
rc=$?
rm -f "$mom/jobs/1.demo.SC"
echo "prologue exit $rc in $(( ($(date +%s%N) - start) / 1000000 )) ms (the site prologue ran; Node was not started)"

step "uninstall"
"${setup[@]}" --uninstall
after=$(snapshot)
if [ "$before" = "$after" ]; then echo "mom_priv restored byte for byte and mode for mode"; else echo "mom_priv differs!"; diff <(echo "$before") <(echo "$after"); exit 1; fi
