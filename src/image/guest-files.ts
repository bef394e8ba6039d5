/**
 * What the reference image carries for a fast start (issue 12): systemd-networkd instead of
 * ifupdown/dhclient, a small LZ4 initramfs, and vtorque-seed, a POSIX sh oneshot that applies the
 * `vtorque/` part of the NoCloud seed (src/guest/fast-seed.ts writes it) before sshd, in place of
 * cloud-init's two Python passes. It runs only when the kernel command line says
 * `vtorque.seed=on` (the engine then also says `cloud-init=disabled`); otherwise cloud-init reads
 * the same seed as on any cloud image. Everything here is root-owned data of the image.
 */

import { SEED_CAPABILITY } from '../core/contract/guest-seed.v1.js';

/** The token in the image's kernel command line (`<img>.cmdline`) that says it has vtorque-seed. */
export { SEED_CAPABILITY };

export const VTORQUE_SEED_PATH = 'usr/lib/vtorque/vtorque-seed';
export const VTORQUE_SEED_UNIT = 'etc/systemd/system/vtorque-seed.service';

/** Directories vtorque-seed fills, made in the image so that the script need not make them. */
export const GUEST_DIRS: readonly string[] = ['/var/spool/torque/aux', '/var/spool/torque/vm', '/etc/ssh/authorized_keys', '/etc/ssh/sshd_config.d', '/etc/profile.d'];

/**
 * The guest side of the seed contract (guest/fast-seed.ts is the host side):
 *   vtorque/seed.conf   key=value lines: version, user, uid, gid, group, hostname
 *   vtorque/files       "<octal mode> <absolute path>" lines; the content is vtorque/root/<path>
 *   vtorque/fstab       fstab lines to add and mount (NFS), may be empty
 * No eval, no sourcing: every value is matched against a pattern before use.
 */
export const VTORQUE_SEED_SCRIPT = `#!/bin/sh
# vtorque-seed: the job VM's users, keys, host name, mounts and job files from the cidata seed,
# before sshd starts, in one shell pass (cloud-init stays off: cloud-init=disabled).
set -eu
say() { echo "vtorque-seed: $*" > /dev/console 2>/dev/null || :; echo "vtorque-seed: $*" >&2; }
# Each step's end on the guest's clock (uptime, s), builtins only: where a slow start goes.
mark() { read -r up _ < /proc/uptime; echo "$up $1" >> /run/vtorque-seed.times; }
mark start
fail() { say "$*"; exit 1; }
m=/run/vtorque-seed
mkdir -p "$m"
# The seed is a virtio disk: its node is there from the initramfs on, and blkid probes it directly
# (no waiting for udev to label it). Bounded, for a slow start.
dev= i=0
while [ -z "$dev" ] && [ "$i" -lt 100 ]; do dev=$(blkid -L cidata 2> /dev/null) || { sleep 0.1; i=$((i + 1)); }; done
[ -n "$dev" ] || fail "no cidata seed"
mount -t iso9660 -o ro,nodev,nosuid,noexec "$dev" "$m" || fail "cannot mount the cidata seed $dev"
mark mounted
s=$m/vtorque
[ -f "$s/seed.conf" ] && [ -f "$s/files" ] || fail "the seed has no vtorque/ part"
version= user= uid= gid= group= host=
while IFS='=' read -r k v; do
  case $k in
    version) version=$v ;; user) user=$v ;; uid) uid=$v ;; gid) gid=$v ;; group) group=$v ;; hostname) host=$v ;;
  esac
done < "$s/seed.conf"
name() { case $1 in ''|-*|*[!A-Za-z0-9._-]*) fail "seed.conf: $2 '$1' is not a name" ;; esac; }
number() { case $1 in ''|*[!0-9]*) fail "seed.conf: $2 '$1' is not a number" ;; esac; }
[ "$version" = 1 ] || fail "seed.conf: version '$version', expected 1"
name "$user" user; name "$group" group; name "$host" hostname; number "$uid" uid; number "$gid" gid
# Every process costs under emulation: builtins where they do, one program per step.
printf '%s\\n' "$host" > /etc/hostname
printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' "$host" > /etc/hosts
printf '%s' "$host" > /proc/sys/kernel/hostname
# Group and user written as groupadd -f -o and useradd would (useradd alone took 1.7 s under TCG):
# the group kept when its name exists; the user locked, refused when its name or uid is taken otherwise.
gid_of_group=
while IFS=: read -r n _ id _; do [ "$n" = "$group" ] && gid_of_group=$id; done < /etc/group
if [ -z "$gid_of_group" ]; then
  printf '%s:x:%s:\\n' "$group" "$gid" >> /etc/group
  printf '%s:!::\\n' "$group" >> /etc/gshadow
fi
mark group
if [ -s "$s/fstab" ]; then
  cat "$s/fstab" >> /etc/fstab
  # NFS needs the DHCP address networkd is getting meanwhile (bounded).
  i=0
  while [ "$i" -lt 120 ] && [ -z "$(ip -4 -o addr show scope global)" ]; do sleep 0.5; i=$((i + 1)); done
  timeout 60 mount -a -t nfs,nfs4 || say "an NFS mount failed (see the journal)"
fi
uid_of_user= user_of_uid=
while IFS=: read -r n _ id _; do
  [ "$n" = "$user" ] && uid_of_user=$id
  [ "$id" = "$uid" ] && user_of_uid=$n
done < /etc/passwd
home=/home/$user
if [ -n "$uid_of_user" ]; then
  [ "$uid_of_user" = "$uid" ] || fail "user $user exists with uid $uid_of_user, not $uid"
elif [ -n "$user_of_uid" ]; then
  fail "uid $uid is taken by $user_of_uid"
else
  printf '%s:x:%s:%s::%s:/bin/bash\\n' "$user" "$uid" "$gid" "$home" >> /etc/passwd
  printf '%s:!::0:99999:7:::\\n' "$user" >> /etc/shadow
fi
mark user
# The home from /etc/skel unless an NFS mount brought it (then it is never touched); the job
# directories the user owns; the directories the files go to.
new_home=no
if [ ! -e "$home" ]; then ( umask 077 && cp -R /etc/skel "$home" ) && new_home=yes; fi
# The image has these directories (GUEST_DIRS); a process is made only for one that is missing.
missing=
for d in ${GUEST_DIRS.join(' ')}; do [ -d "$d" ] || missing="$missing $d"; done
[ -z "$missing" ] || mkdir -p -m 0755 $missing
if [ "$new_home" = yes ]; then chown -R "$uid:$gid" "$home" /var/spool/torque/aux /var/spool/torque/vm
else chown "$uid:$gid" /var/spool/torque/aux /var/spool/torque/vm; fi
mark dirs
# The files, each checked first, then copied in one pass: root's, created 0600 (umask 077, so a
# private host key is never readable by anyone else), then 0644 where the list says so.
public=
while read -r mode path; do
  case $mode in 0644) public="$public $path" ;; 0600) ;; *) fail "files: mode '$mode'" ;; esac
  case $path in /*) ;; *) fail "files: path '$path' is not absolute" ;; esac
  case $path in *[!A-Za-z0-9._/-]*|*/../*|*/..) fail "files: path '$path'" ;; esac
  [ -f "$s/root$path" ] || fail "files: $path is not on the seed"
done < "$s/files"
( umask 077 && cp -R --no-preserve=mode,ownership --remove-destination "$s/root/." / )
[ -z "$public" ] || chmod 0644 $public
mark files
# Whether the site named a DNS server, read before the seed goes away.
have_dns=no
[ -f "$s/root/etc/resolv.conf" ] && have_dns=yes
umount "$m"
mark unmounted
# Once DHCP gave an address (in the background, bounded): DNS from the lease unless the site named
# a server, and one lookup through the DHCP server's resolver, so the host learns this guest's
# address from the ARP request it answers at once (it would otherwise wait for the lease list).
(
  i=0
  while [ "$i" -lt 240 ]; do
    for l in /run/systemd/netif/leases/*; do
      [ -f "$l" ] || continue
      dns=$(sed -n 's/^DNS=//p' "$l")
      if [ "$have_dns" = no ] && [ -n "$dns" ]; then
        for d in $dns; do printf 'nameserver %s\\n' "$d"; done > /etc/resolv.conf
      fi
      timeout 5 getent hosts "$host.vtorque-hello.invalid" > /dev/null 2>&1 || :
      exit 0
    done
    sleep 0.25; i=$((i + 1))
  done
) &
say "applied for $user ($uid:$gid) on $host"
`;

export const VTORQUE_SEED_SERVICE = `[Unit]
Description=vTorque seed: users, keys, host name, mounts and job files from the cidata seed
ConditionKernelCommandLine=vtorque.seed=on
DefaultDependencies=no
# Only / writable and the system users written (it appends to /etc/passwd and /etc/group):
# not local-fs.target, which waits for /dev's tmpfiles (under TCG a second later).
After=systemd-remount-fs.service systemd-sysusers.service
Before=ssh.service sshd.service ssh.socket systemd-user-sessions.service
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/vtorque/vtorque-seed
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

/**
 * The image's own sshd unit, in place of Debian's (same service, two changes for the SSH path):
 * no `After=network.target` (sshd listens on the wildcard address, so it need not wait for
 * networkd to start; under emulation that start alone is seconds), and no config self-test
 * before it (one process fewer; the config is the image's and the seed's). cloud-init's units
 * still order themselves before ssh.service when a job boots through cloud-init.
 */
export const SSH_SERVICE = `[Unit]
Description=OpenBSD Secure Shell server (vTorque job VM)
Documentation=man:sshd(8) man:sshd_config(5)
After=auditd.service vtorque-seed.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
EnvironmentFile=-/etc/default/ssh
ExecStart=/usr/sbin/sshd -D $SSHD_OPTS
ExecReload=/usr/sbin/sshd -t
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartPreventExitStatus=255
Type=notify
RuntimeDirectory=sshd
RuntimeDirectoryMode=0755

[Install]
WantedBy=multi-user.target
Alias=sshd.service
`;

/** DHCP on every Ethernet NIC (one per job VM); the MAC as the client id, as the DHCP server sees it. */
export const NETWORKD_DHCP = `[Match]
Type=ether

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
ClientIdentifier=mac
UseHostname=no
`;

/** A small initramfs: only what mounts the root disk (the cloud kernel has ext4 built in), LZ4. */
export const INITRAMFS_CONF = 'MODULES=list\nCOMPRESS=lz4\n';
export const INITRAMFS_MODULES = 'virtio_pci\nvirtio_blk\n';
