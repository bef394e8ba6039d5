#!/usr/bin/env bash
# Debian packages and npm dependencies for building and testing vTorque on a fresh machine.
# The libvirt binding has no prebuilt download here, so it compiles against libvirt-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
# Build and default test tier, then the e2e tier (a real libvirtd in a network namespace, TCG
# guests, the debootstrap-built image), then the Slurm tier's daemons (Debian's slurm-wlm 22.05
# and munge; nothing starts them but the tier).
need=(libvirt-dev pkg-config g++ make python3 libvirt-clients qemu-utils libxml2-utils genisoimage cloud-image-utils
  libvirt-daemon-system qemu-system-x86 dnsmasq-base debootstrap e2fsprogs iproute2 openssh-client openssh-server iptables
  slurmctld slurmd slurm-client munge)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm_config_build_from_source=true npm ci --no-audit --no-fund
fi
