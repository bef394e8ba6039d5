import { removeRootfsEntries, symlinkInRootfs, writeRootfsFile } from './rootfs-fs.js';

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

/** The rootfs files written verbatim, path relative to the rootfs → content. */
export const ROOTFS_FILES: Readonly<Record<string, string>> = {
  'etc/fstab': '/dev/vda / ext4 defaults,errors=remount-ro,discard 0 1\n',
  // debootstrap copies the build host's hostname and resolv.conf; cloud-init sets the real hostname.
  'etc/hostname': 'debian\n',
  'etc/hosts': '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n',
  'etc/resolv.conf': '',
  // Probe only the cidata seed; the image has no `locales` package.
  'etc/cloud/cloud.cfg.d/90_datasource.cfg': 'datasource_list: [ NoCloud, None ]\n',
  'etc/cloud/cloud.cfg.d/91_vtorque.cfg': 'locale: C.UTF-8\n',
  // cloud-init's ENI renderer writes interfaces.d/50-cloud-init (ifupdown + isc-dhcp-client).
  'etc/network/interfaces': 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n',
  // Per-instance identity: systemd fills machine-id on first boot.
  'etc/machine-id': '',
};

export interface CustomiseReport {
  readonly hostKeysRemoved: number;
  readonly aptFilesRemoved: number;
}

/** Apply every fix and tuning step of the image to a finished debootstrap rootfs. */
export function customiseRootfs(rootfs: string): CustomiseReport {
  for (const [rel, content] of Object.entries(ROOTFS_FILES)) writeRootfsFile(rootfs, rel, content);
  removeRootfsEntries(rootfs, 'var/lib/dbus', (n) => n === 'machine-id');
  for (const unit of MASKED_UNITS) symlinkInRootfs(rootfs, `etc/systemd/system/${unit}`, '/dev/null');
  // cloud-init generates new host keys on each instance's first boot.
  const hostKeysRemoved = removeRootfsEntries(rootfs, 'etc/ssh', (n) => n.startsWith('ssh_host_'));
  const aptFilesRemoved =
    removeRootfsEntries(rootfs, 'var/cache/apt/archives', (n) => n.endsWith('.deb')) +
    removeRootfsEntries(rootfs, 'var/cache/apt', (n) => n.endsWith('.bin')) +
    removeRootfsEntries(rootfs, 'var/lib/apt/lists', (n) => n !== 'partial' && n !== 'lock');
  return { hostKeysRemoved, aptFilesRemoved };
}
