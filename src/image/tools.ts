import { findExecutable } from '../core/exec/which.js';
import { VtorqueError } from '../core/errors.js';

/** The programs the build runs, with the Debian package providing each. */
export const BUILD_TOOLS = [
  { file: 'debootstrap', pkg: 'debootstrap' },
  { file: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { file: 'qemu-img', pkg: 'qemu-utils' },
  { file: 'unshare', pkg: 'util-linux' },
  { file: 'umount', pkg: 'mount' },
] as const;

/** Root (debootstrap, file ownership in the filesystem) and every tool, or one clear error naming what to install. */
export function requireBuildTools(): void {
  if (process.getuid?.() !== 0) {
    throw new VtorqueError('PERMISSION', 'image build: must run as root (debootstrap, and root-owned files in the guest filesystem)', { fault: 'job' });
  }
  const missing = BUILD_TOOLS.filter((t) => findExecutable(t.file) === null);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  throw new VtorqueError(
    'NOT_SUPPORTED',
    `image build: missing ${missing.map((t) => `${t.file} (Debian package ${t.pkg})`).join(', ')}; install with: apt-get install ${pkgs.join(' ')}`,
    { fault: 'node' },
  );
}

/** PATH for the build's children: debootstrap needs chroot and friends from sbin. */
export function buildPath(path: string = process.env.PATH ?? ''): string {
  const dirs = path.split(':').filter((d) => d !== '');
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}
