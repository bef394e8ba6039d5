import { closeSync, constants as C, fstatSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { UnsafePathError } from '../errors.js';
import { mountPointsUnder, readMounts, type MountEntry } from './mounts.js';
import { closeDir, join2, pathElements, selfPath, walk, type DirHandle } from './walk.js';

export interface RemoveTreeOptions {
  /** Descend into mount points inside the tree. Default: refuse before removing anything. */
  readonly crossMounts?: boolean;
  /** Keep each non-directory for which this is true (`rel` is relative to the tree, '/'-separated) and the directories holding it. */
  readonly keep?: (rel: string, st: Stats) => boolean;
  /** The mount table to check (tests); default /proc/self/mountinfo. */
  readonly mounts?: readonly MountEntry[];
  /**
   * Stop with an error after this many entries (a tree someone else could fill, e.g. a
   * directory the job owner could write: its removal must stay bounded in time). Default: none.
   */
  readonly maxEntries?: number;
}

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/** A child of `dir` by raw name bytes, reached through the directory's descriptor. */
function child(dir: DirHandle, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${dir.fd}/`), name]);
}

function ignoreMissing(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Remove `path` and everything below it without following any symlink: a symlink is unlinked, a
 * directory is entered only through an O_NOFOLLOW descriptor, so a directory swapped for a symlink
 * mid-walk is unlinked rather than followed. The parents of `path` must be trusted (root-owned,
 * not writable by others). Returns what was removed, deepest first; a missing `path` removes nothing.
 */
export function removeTree(path: string, opts: RemoveTreeOptions = {}): string[] {
  const els = pathElements(path);
  const name = els.pop();
  if (name === undefined) throw new UnsafePathError(path, 'is the root directory', { fault: 'node' });
  const parent = walk(els, { trusted: true });
  if (!parent) return [];
  try {
    if (!opts.crossMounts) {
      const inside = mountPointsUnder(path, opts.mounts ?? readMounts());
      if (inside.length > 0) throw new UnsafePathError(path, `has a mount point at ${inside.join(', ')}; unmount it first`, { fault: 'node' });
    }
    const removed: string[] = [];
    const budget = { left: opts.maxEntries ?? Number.POSITIVE_INFINITY, path };
    removeEntry(parent, Buffer.from(name), path, '', removed, { ...opts, budget });
    return removed;
  } finally {
    closeDir(parent);
  }
}

/** True when the entry is gone; false when something below it (or it) was kept. */
type Walk = RemoveTreeOptions & { readonly budget: { left: number; readonly path: string } };

function spend(opts: Walk): void {
  if (--opts.budget.left < 0) throw new UnsafePathError(opts.budget.path, `holds more than ${opts.maxEntries} entries; left for a later pass`, { fault: 'node' });
}

function removeEntry(parent: DirHandle, name: Buffer, display: string, rel: string, removed: string[], opts: Walk): boolean {
  spend(opts);
  const target = child(parent, name);
  let fd: number;
  try {
    fd = openSync(target, DIR_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw err;
    return removeLeaf(target, display, rel, removed, opts);
  }
  let empty = true;
  try {
    const dir: DirHandle = { fd, path: display, stat: fstatSync(fd) };
    if (!opts.crossMounts && dir.stat.dev !== parent.stat.dev) throw new UnsafePathError(display, 'is a mount point; unmount it first', { fault: 'node' });
    for (const entry of readdirSync(selfPath(dir), { encoding: 'buffer' })) {
      const text = entry.toString('utf8');
      if (!removeEntry(dir, entry, join2(display, text), rel === '' ? text : `${rel}/${text}`, removed, opts)) empty = false;
    }
  } finally {
    closeSync(fd);
  }
  if (!empty) return false;
  ignoreMissing(() => rmdirSync(target));
  removed.push(display);
  return true;
}

function removeLeaf(target: Buffer, display: string, rel: string, removed: string[], opts: Walk): boolean {
  const st = lstatSync(target, { throwIfNoEntry: false });
  if (!st) return true;
  if (st.isDirectory()) throw new UnsafePathError(display, 'changed from a non-directory to a directory while being removed', { fault: 'node' });
  if (opts.keep?.(rel, st)) return false;
  ignoreMissing(() => unlinkSync(target));
  removed.push(display);
  return true;
}
