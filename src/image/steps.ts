import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../core/exec/run.js';
import { VtorqueError } from '../core/errors.js';
import { IMAGE_FS_LABEL, IMAGE_MIRROR, IMAGE_SIZE, IMAGE_SUITE, IMAGE_VARIANT, type ImageInputs } from './inputs.js';
import { buildPath } from './tools.js';

/** The effectful build steps, each one subprocess (argument arrays only) or file operation. */

const MINUTE = 60_000;

function buildEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: buildPath(), LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' };
}

/**
 * debootstrap in a private mount namespace (`unshare --mount`): the proc/sys/dev mounts it makes
 * in the target vanish with it, even if it dies half-way, so the work dir never holds a mount.
 */
export async function debootstrap(inputs: ImageInputs, rootfs: string, debCache: string | null): Promise<void> {
  const args = [
    '--mount', '--propagation', 'private', '--',
    'debootstrap',
    `--variant=${IMAGE_VARIANT}`,
    `--include=${inputs.packages.join(',')}`,
    ...(debCache === null ? [] : [`--cache-dir=${debCache}`]),
    IMAGE_SUITE,
    rootfs,
    IMAGE_MIRROR,
  ];
  try {
    await run('unshare', args, { timeoutMs: 45 * MINUTE, env: buildEnv() });
  } catch (err) {
    const log = join(rootfs, 'debootstrap', 'debootstrap.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ') : '';
    throw new VtorqueError('COMMAND_FAILED', `image build: debootstrap failed${tail ? `; debootstrap.log ends: ${tail}` : ''}`, { cause: err, fault: 'node' });
  }
}

/**
 * Rebuild the rootfs's initramfs after customisation changed its config (MODULES=list, LZ4):
 * `update-initramfs` chrooted into the rootfs, in a private mount and pid namespace with its own
 * /proc (gone with it, whatever happens).
 */
export async function updateInitramfs(rootfs: string): Promise<void> {
  const args = ['--fork', '--pid', '--mount', '--propagation', 'private', `--mount-proc=${join(rootfs, 'proc')}`, '--', 'chroot', rootfs, 'update-initramfs', '-u', '-k', 'all'];
  await run('unshare', args, { timeoutMs: 15 * MINUTE, env: buildEnv() });
}

/** The newest kernel in rootfs/boot that has a matching initrd. */
export function findKernel(rootfs: string): { version: string; vmlinuz: string; initrd: string } {
  const boot = join(rootfs, 'boot');
  const versions = readdirSync(boot)
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((v) => existsSync(join(boot, `initrd.img-${v}`)))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const version = versions.at(-1);
  if (version === undefined) throw new VtorqueError('INTERNAL', `image build: no vmlinuz-*/initrd.img-* pair in ${boot}`, { fault: 'node' });
  return { version, vmlinuz: join(boot, `vmlinuz-${version}`), initrd: join(boot, `initrd.img-${version}`) };
}

/** Copy a regular file (never through a symlink) and make it 0644. */
export function copyOut(from: string, to: string): void {
  if (!lstatSync(from).isFile()) throw new VtorqueError('INTERNAL', `image build: ${from} is not a regular file`, { fault: 'node' });
  copyFileSync(from, to);
  chmodSync(to, 0o644);
}

/** ext4 filling the whole disk, populated from the rootfs without loop devices or mounts. */
export async function makeFilesystem(rootfs: string, raw: string): Promise<void> {
  await run('mkfs.ext4', ['-q', '-F', '-L', IMAGE_FS_LABEL, '-d', rootfs, raw, IMAGE_SIZE], { timeoutMs: 15 * MINUTE, env: buildEnv() });
}

export async function convertToQcow2(raw: string, qcow2: string): Promise<void> {
  await run('qemu-img', ['convert', '-O', 'qcow2', raw, qcow2], { timeoutMs: 15 * MINUTE, env: buildEnv() });
  chmodSync(qcow2, 0o644);
}

/** Mount points at or below `dir` (from /proc/self/mountinfo), deepest first. */
export function mountsBelow(dir: string): string[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Remove the work dir, but never while anything is mounted below it (rm would reach the host). */
export async function removeWorkDir(dir: string): Promise<void> {
  for (const mount of mountsBelow(dir)) await run('umount', ['-l', mount], { timeoutMs: MINUTE, reject: false });
  const left = mountsBelow(dir);
  if (left.length > 0) throw new VtorqueError('INTERNAL', `image build: not removing ${dir}: still mounted: ${left.join(', ')}`, { fault: 'node' });
  rmSync(dir, { recursive: true, force: true });
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
}
