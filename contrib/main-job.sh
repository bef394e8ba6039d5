#!/usr/bin/env bash
# The README's main job: one VM job end to end on this machine, as root.
#   1. prerequisites and build; the Debian guest image (built once, then cached)
#   2. a libvirt sandbox: libvirtd in a network namespace with an isolated network (vtorque sandbox)
#   3. vtorque setup into a scratch prefix and a scratch mom_priv (a site prologue there is kept
#      as prologue.orig and chained)
#   4. a job submitted with vsub and run by `vtorque run-local` exactly as pbs_mom would: the
#      installed prologue boots the guest, the job script runs inside it as the demo user, the
#      epilogue tears it down; run-local prints each step and every line they write (prologue
#      progress: phase, VM, elapsed) as it happens, labelled, then the delivered .o/.e (with the
#      phase timeline) and the verdict
#   5. uninstall, sandbox down; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
[ "$(id -u)" = 0 ] || { echo "main-job.sh: run as root (it installs hooks and runs libvirtd)" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

bash contrib/install-prerequisites.sh
npm run --silent build
vt=(node "$repo/dist/vtorque.mjs")
image_dir=${VTQ_IMAGE_DIR:-/var/cache/vtorque/image}
sandbox=vtqdemo
user=vtqdemo
demo=$(mktemp -d /var/tmp/vtorque-demo.XXXXXX)
chmod 755 "$demo"
setup=("${vt[@]}" setup --prefix "$demo/prefix" --mom-priv "$demo/torque/mom_priv" --config "$demo/etc/config.yaml" --profile-dir "$demo/profile.d")
started_sandbox=0
cleanup() {
  set +e
  [ -f "$demo/prefix/lib/vtorque/install-manifest.json" ] && "${setup[@]}" --uninstall >/dev/null
  [ "$started_sandbox" = 1 ] && "${vt[@]}" sandbox down --name "$sandbox" --delete-netns >/dev/null 2>&1
  rm -rf "$demo"
}
trap cleanup EXIT

step "guest image ($image_dir; built once with debootstrap, then reused)"
"${vt[@]}" image build --out "$image_dir"

step "sandbox: libvirtd and an isolated network inside network namespace $sandbox"
if ! "${vt[@]}" sandbox status --name "$sandbox" 2>/dev/null | grep -q ': running'; then started_sandbox=1; fi
uri=$("${vt[@]}" sandbox up --name "$sandbox" | sed -n "s/^  uri: //p")
echo "libvirt URI: $uri"

step "install vTorque into $demo/prefix, hooks into $demo/torque/mom_priv"
mkdir -p "$demo/torque/mom_priv/jobs" "$demo/etc"
chmod 751 "$demo/torque/mom_priv" "$demo/torque/mom_priv/jobs"
printf '#!/bin/sh\necho "site prologue ran for job $1"\n' > "$demo/torque/mom_priv/prologue"
chmod 0500 "$demo/torque/mom_priv/prologue"
cat > "$demo/etc/config.yaml" <<YAML
TORQUE_HOME: $demo/torque
SPOOL_DIR: $demo/spool
LOG_DIR: $demo/log
VM_IMG_DIR: $image_dir
LIBVIRT_URI: '$uri'
VM_NETWORK: vtq-net
HYPERVISOR: qemu
VCPUS_DEFAULT: 1
RAM_DEFAULT: 1G
HOST_OS_CORE_COUNT: 1
HOST_OS_RAM_MB: 1024
TIMEOUT: 240
PROLOGUE_TIMEOUT: 280
YAML
"${setup[@]}" | tail -n 1
"$demo/prefix/bin/vtorque" config check --node
"$demo/prefix/bin/vmgr" show images

step "a VM job: vsub + vtorque run-local (the guest boots under TCG here: ready ~16 s after it starts, longer on a busy node; its progress follows as it happens)"
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
work=$(getent passwd "$user" | cut -d: -f6)/vtorque-demo
install -d -o "$user" -g "$user" "$work"
cat > "$work/hello.sh" <<'JOB'
#!/bin/sh
#PBS -N hello-vm
#PBS -l walltime=00:15:00
#PBS -vm vcpus=1,ram=1G
echo "== inside the job's VM"
uname -a
id
. /etc/os-release && echo "$PRETTY_NAME"
echo "PBS environment:"; env | grep '^PBS_' | sort
echo "VM node file ($PBS_VMNODEFILE):"; cat "$PBS_VMNODEFILE"
JOB
chown "$user:" "$work/hello.sh"
cd "$work"
rc=0
"$demo/prefix/bin/vtorque" run-local --user "$user" --netns "$sandbox" -- hello.sh || rc=$?
cd "$repo"

step "teardown"
left=$(virsh -c "$uri" list --all --name | grep -c '^vtq-' || true)
echo "domains left by the job: $left"
exit "$rc"
