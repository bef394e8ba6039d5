import { createHash } from 'node:crypto';
import { GUEST_DIRS, INITRAMFS_CONF, INITRAMFS_MODULES, NETWORKD_DHCP, SSH_SERVICE, VTORQUE_SEED_PATH, VTORQUE_SEED_SCRIPT, VTORQUE_SEED_SERVICE, VTORQUE_SEED_UNIT } from './guest-files.js';
import type { ImageProfile } from './profile.js';
import { mkdirInRootfs, removeRootfsEntries, symlinkInRootfs, writeRootfsFile } from './rootfs-fs.js';

/**
 * Units masked in the image (symlink to /dev/null in /etc/systemd/system, what `systemctl mask`
 * does): ephemeral job VMs run no apt or maintenance timers, and no rpcbind (NFSv4 needs none).
 */
export const MASKED_UNITS: readonly string[] = [
  'apt-daily.timer',
  'apt-daily-upgrade.timer',
  'dpkg-db-backup.timer',
  'e2scrub_all.timer',
  'e2scrub_reap.service',
  'fstrim.timer',
  'rpcbind.service',
  'rpcbind.socket',
];

/** Off the boot path of the tuned image as well: a job VM has no getty, no binfmt, no debug mounts. */
export const TUNED_MASKED_UNITS: readonly string[] = [
  ...MASKED_UNITS,
  'systemd-networkd-wait-online.service',
  'getty@tty1.service',
  'serial-getty@ttyS0.service',
  'systemd-binfmt.service',
  'proc-sys-fs-binfmt_misc.automount',
  'dev-hugepages.mount',
  'sys-kernel-debug.mount',
  'sys-kernel-tracing.mount',
  'sys-kernel-config.mount',
  'sys-fs-fuse-connections.mount',
  'systemd-pstore.service',
  // No login sessions to track in a job VM: sshd's pam_systemd is optional (no XDG_RUNTIME_DIR,
  // as for a job under pbs_mom on the host).
  'systemd-logind.service',
  // Boot and runlevel records in utmp/wtmp (sshd records its logins itself).
  'systemd-update-utmp.service',
  'systemd-update-utmp-runlevel.service',
  // Modules a job VM does not need at boot (loaded on demand when it does).
  'modprobe@drm.service',
  'modprobe@dm_mod.service',
  'modprobe@loop.service',
  // NFS client helpers: NFSv4 mounts without them; an NFSv3 mount starts rpc.statd itself.
  'run-rpc_pipefs.mount',
  'rpc-statd-notify.service',
  'nfs-idmapd.service',
];

/** The rootfs files written verbatim, path relative to the rootfs → content. */
export const ROOTFS_FILES: Readonly<Record<string, string>> = {
  'etc/fstab': '/dev/vda / ext4 defaults,errors=remount-ro,discard 0 1\n',
  // debootstrap copies the build host's hostname and resolv.conf; the seed sets the real hostname.
  'etc/hostname': 'debian\n',
  'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n',
  // Probe only the cidata seed; the image has no `locales` package.
  'etc/cloud/cloud.cfg.d/90_datasource.cfg': 'datasource_list: [ NoCloud, None ]\n',
  // Per-instance identity: systemd fills machine-id on first boot.
  'etc/machine-id': '',
};

const PLAIN_FILES: Readonly<Record<string, string>> = {
  'etc/resolv.conf': '',
  'etc/cloud/cloud.cfg.d/91_vtorque.cfg': 'locale: C.UTF-8\n',
  // cloud-init's ENI renderer writes interfaces.d/50-cloud-init (ifupdown + isc-dhcp-client).
  'etc/network/interfaces': 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n',
};

const TUNED_FILES: Readonly<Record<string, string>> = {
  // vtorque-seed writes it (the site's DNS, or the DHCP lease's); cloud-init's resolv_conf too.
  'etc/resolv.conf': '',
  // cloud-init (when a job needs it: packages, NTP, a user's metadata) renders for networkd too.
  'etc/cloud/cloud.cfg.d/91_vtorque.cfg': 'locale: C.UTF-8\nsystem_info:\n  network:\n    renderers: [networkd]\n',
  'etc/systemd/network/80-vtorque-dhcp.network': NETWORKD_DHCP,
  [VTORQUE_SEED_UNIT]: VTORQUE_SEED_SERVICE,
  'etc/systemd/system/ssh.service': SSH_SERVICE,
  'etc/initramfs-tools/conf.d/vtorque.conf': INITRAMFS_CONF,
  'etc/initramfs-tools/modules': INITRAMFS_MODULES,
};

/** Unit symlinks the tuned image enables (what `systemctl enable` would make), rootfs path → target. */
const TUNED_LINKS: Readonly<Record<string, string>> = {
  'etc/systemd/system/multi-user.target.wants/vtorque-seed.service': `/${VTORQUE_SEED_UNIT}`,
  'etc/systemd/system/multi-user.target.wants/systemd-networkd.service': '/lib/systemd/system/systemd-networkd.service',
  'etc/systemd/system/sockets.target.wants/systemd-networkd.socket': '/lib/systemd/system/systemd-networkd.socket',
  'etc/systemd/system/dbus-org.freedesktop.network1.service': '/lib/systemd/system/systemd-networkd.service',
};

/**
 * A digest of everything customiseRootfs writes for a profile, part of the image's inputs: an
 * edit to a guest file rebuilds the cached image without anyone remembering to bump a version.
 */
export function customisationDigest(profile: ImageProfile): string {
  const content = profile === 'tuned'
    ? { ROOTFS_FILES, TUNED_FILES, TUNED_MASKED_UNITS, TUNED_LINKS, VTORQUE_SEED_SCRIPT, GUEST_DIRS }
    : { ROOTFS_FILES, PLAIN_FILES, MASKED_UNITS };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
}

export interface CustomiseReport {
  readonly hostKeysRemoved: number;
  readonly aptFilesRemoved: number;
}

/**
 * Apply every fix and tuning step of the image to a finished debootstrap rootfs. The tuned profile
 * still needs its initramfs rebuilt afterwards (steps.ts updateInitramfs).
 */
export function customiseRootfs(rootfs: string, profile: ImageProfile = 'tuned'): CustomiseReport {
  const files = { ...ROOTFS_FILES, ...(profile === 'tuned' ? TUNED_FILES : PLAIN_FILES) };
  for (const [rel, content] of Object.entries(files)) writeRootfsFile(rootfs, rel, content);
  removeRootfsEntries(rootfs, 'var/lib/dbus', (n) => n === 'machine-id');
  for (const unit of profile === 'tuned' ? TUNED_MASKED_UNITS : MASKED_UNITS) symlinkInRootfs(rootfs, `etc/systemd/system/${unit}`, '/dev/null');
  if (profile === 'tuned') {
    writeRootfsFile(rootfs, VTORQUE_SEED_PATH, VTORQUE_SEED_SCRIPT, 0o755);
    for (const dir of GUEST_DIRS) mkdirInRootfs(rootfs, dir.slice(1));
    for (const [rel, target] of Object.entries(TUNED_LINKS)) symlinkInRootfs(rootfs, rel, target);
  }
  // cloud-init generates new host keys on each instance's first boot.
  const hostKeysRemoved = removeRootfsEntries(rootfs, 'etc/ssh', (n) => n.startsWith('ssh_host_'));
  const aptFilesRemoved =
    removeRootfsEntries(rootfs, 'var/cache/apt/archives', (n) => n.endsWith('.deb')) +
    removeRootfsEntries(rootfs, 'var/cache/apt', (n) => n.endsWith('.bin')) +
    removeRootfsEntries(rootfs, 'var/lib/apt/lists', (n) => n !== 'partial' && n !== 'lock');
  return { hostKeysRemoved, aptFilesRemoved };
}
