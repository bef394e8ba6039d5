import { closeSync, copyFileSync, mkdirSync, fchmodSync, fchownSync, lstatSync, openSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import { BOOT_FILE_SUFFIXES, infoPath } from '../../core/pool/images.js';
import { IMAGE_NAME } from '../../core/request/index.js';

function requireRoot(action: string): void {
  if (process.geteuid?.() !== 0) throw new VtorqueError('PERMISSION', `vmgr ${action} changes the root-owned image pool: run it as root`, { fault: 'job' });
}

function poolEntry(dir: string, name: string): string {
  if (!IMAGE_NAME.test(name)) throw new VtorqueError('REQUEST_INVALID', `image name ${JSON.stringify(name)}: expected a file name ending .img, .qcow2 or .raw`, { fault: 'job' });
  return join(dir, name);
}

/**
 * Direct kernel boot files travel with their image: `<image>.vmlinuz` and `<image>.initrd` (both or
 * neither), and `<image>.cmdline` (the image's kernel command line; optional, the engine has a default).
 */
export const BOOT_SUFFIXES = [BOOT_FILE_SUFFIXES.kernel, BOOT_FILE_SUFFIXES.initrd, BOOT_FILE_SUFFIXES.cmdline] as const;

/**
 * Copy an image into the pool as root:root 0444 (atomically: temp name, then rename), with its
 * kernel and initrd when they sit beside it. Returns the paths written.
 */
export function addImage(dir: string, source: string, description: string, name = basename(source)): string[] {
  requireRoot('add');
  const target = poolEntry(dir, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const written = [copyInto(source, target)];
  const boot = BOOT_SUFFIXES.filter((suffix) => lstatSync(`${source}${suffix}`, { throwIfNoEntry: false })?.isFile());
  if (boot.includes(BOOT_FILE_SUFFIXES.kernel) && boot.includes(BOOT_FILE_SUFFIXES.initrd)) {
    for (const suffix of boot) written.push(copyInto(`${source}${suffix}`, `${target}${suffix}`));
  }
  writeInfo(dir, name, description);
  return written;
}

function copyInto(source: string, target: string): string {
  const st = lstatSync(source, { throwIfNoEntry: false });
  if (!st?.isFile()) throw new VtorqueError('REQUEST_INVALID', `${source}: expected a regular file (not a link or directory)`, { fault: 'job' });
  const tmp = `${target}.vmgr-${process.pid}`;
  copyFileSync(source, tmp);
  fixOwnership(tmp);
  renameSync(tmp, target);
  return target;
}

export function updateImage(dir: string, name: string, description: string): void {
  requireRoot('update');
  if (!lstatSync(poolEntry(dir, name), { throwIfNoEntry: false })?.isFile()) throw new VtorqueError('REQUEST_INVALID', `no image ${name} in ${dir}`, { fault: 'job' });
  writeInfo(dir, name, description);
}

export function deleteImage(dir: string, name: string): void {
  requireRoot('delete');
  const target = poolEntry(dir, name);
  if (!lstatSync(target, { throwIfNoEntry: false })) throw new VtorqueError('REQUEST_INVALID', `no image ${name} in ${dir}`, { fault: 'job' });
  unlinkSync(target);
  rmSync(infoPath(dir, name), { force: true });
  for (const suffix of BOOT_SUFFIXES) rmSync(`${target}${suffix}`, { force: true });
}

function writeInfo(dir: string, name: string, description: string): void {
  const line = description.replace(/[\0-\x1f]/g, ' ').slice(0, 500);
  const path = infoPath(dir, name);
  const tmp = `${path}.vmgr-${process.pid}`;
  const fd = openSync(tmp, 'wx', 0o444);
  try {
    writeSync(fd, `${line}\n`);
    fchownSync(fd, 0, 0);
    fchmodSync(fd, 0o444);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function fixOwnership(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fchownSync(fd, 0, 0);
    fchmodSync(fd, 0o444);
  } finally {
    closeSync(fd);
  }
}
