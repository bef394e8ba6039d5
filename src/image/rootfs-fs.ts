import { lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { UnsafePathError } from '../core/errors.js';

/**
 * File operations inside a debootstrap rootfs, as root. The rootfs holds absolute symlinks that
 * point into the *host* when followed from outside, so no operation here follows a symlink: parent
 * directories must be real directories, and an existing symlink at the target is replaced, never
 * written through.
 */
export function inRootfs(rootfs: string, rel: string): string {
  const path = join(rootfs, rel);
  const back = relative(rootfs, path);
  if (back === '' || back.startsWith('..') || back.split(sep).includes('..')) throw new UnsafePathError(path, 'outside the rootfs', { fault: 'node' });
  let dir = rootfs;
  for (const part of relative(rootfs, dirname(path)).split(sep).filter((p) => p !== '')) {
    dir = join(dir, part);
    const st = lstatSync(dir, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (!st.isDirectory()) throw new UnsafePathError(path, `${dir} is not a directory`, { fault: 'node' });
  }
  return path;
}

/** Write a regular file (replacing whatever is there, a symlink included). */
export function writeRootfsFile(rootfs: string, rel: string, content: string, mode = 0o644): void {
  const path = inRootfs(rootfs, rel);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true });
  writeFileSync(path, content, { mode, flag: 'wx' });
}

/** Make directory `rel` (and its parents) 0755 unless it exists. */
export function mkdirInRootfs(rootfs: string, rel: string): void {
  const path = inRootfs(rootfs, `${rel}/.keep`);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
}

/** Make `rel` a symlink to `target` (e.g. a unit masked to /dev/null). */
export function symlinkInRootfs(rootfs: string, rel: string, target: string): void {
  const path = inRootfs(rootfs, rel);
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true });
  symlinkSync(target, path);
}

/** Remove the entries of a directory for which `match` is true (symlinks are removed, never followed). */
export function removeRootfsEntries(rootfs: string, relDir: string, match: (name: string) => boolean): number {
  const dir = inRootfs(rootfs, relDir);
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st?.isDirectory()) return 0;
  let removed = 0;
  for (const name of readdirSync(dir)) {
    if (!match(name)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed += 1;
  }
  return removed;
}
