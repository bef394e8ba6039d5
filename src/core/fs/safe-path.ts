import { readFdFully } from './read-fd.js';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { UnsafePathError, type Fault } from '../errors.js';
import { at, closeDir, createDir, modeText, pathElements, pathFault, walk, type DirHandle } from './walk.js';

/**
 * Root-side file access that follows no symlink at any path element, accepts no `..`, works only
 * under root-owned directories nobody else can write, creates files with O_EXCL and changes owner
 * before mode. Paths are for messages; every operation goes through directory descriptors. An unsafe
 * path below trusted directories is the node's fault; only openNoFollow / lstatNoFollow with
 * `trusted: false` (a path the job named) make it the job's (pathFault).
 */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}
export const ROOT_OWNER: Owner = { uid: 0, gid: 0 };

const FILE_READ = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

/** The trusted directory holding `path`'s last element, and that element; throws when missing. */
function openParent(path: string, create = false): { parent: DirHandle; name: string } {
  const els = pathElements(path);
  const name = els.pop();
  if (name === undefined) throw new UnsafePathError(path, 'is the root directory', { fault: 'node' });
  const parent = walk(els, { trusted: true, create });
  if (!parent) throw new UnsafePathError(path, 'its parent directory does not exist', { fault: 'node' });
  return { parent, name };
}

function withParent<T>(path: string, fn: (parent: DirHandle, name: string) => T, create = false): T {
  const { parent, name } = openParent(path, create);
  try {
    return fn(parent, name);
  } finally {
    closeDir(parent);
  }
}

/**
 * Make directory `path` with `mode` and `owner`, creating missing parents root:root 0755. Every
 * existing element must be a real directory (no symlink) owned by root and writable by nobody else;
 * an existing `path` must be owned by `owner.uid` and gets `owner` and `mode` re-applied.
 */
export function mkdirPrivate(path: string, mode: number, owner: Owner = ROOT_OWNER): void {
  withParent(
    path,
    (parent, name) => {
      const { dir, created } = createDir(parent, name, path, mode, owner);
      try {
        if (created) return;
        if (dir.stat.uid !== owner.uid) throw new UnsafePathError(path, `exists and is owned by uid ${dir.stat.uid}, expected uid ${owner.uid}`, { fault: 'node' });
        fchownSync(dir.fd, owner.uid, owner.gid);
        fchmodSync(dir.fd, mode);
      } finally {
        closeDir(dir);
      }
    },
    true,
  );
}

/** Create `path` (which must not exist) with O_CREAT|O_EXCL|O_NOFOLLOW, 0600 until written, then chown, then chmod. */
export function writeFileExclusive(path: string, data: string | Uint8Array, mode: number, owner?: Owner): void {
  withParent(path, (parent, name) => {
    let fd: number;
    try {
      fd = openSync(at(parent, name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ELOOP') throw new UnsafePathError(path, 'already exists', { cause: err, fault: 'node' });
      throw err;
    }
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      if (owner) fchownSync(fd, owner.uid, owner.gid);
      fchmodSync(fd, mode);
    } catch (err) {
      unlinkSync(at(parent, name));
      throw err;
    } finally {
      closeSync(fd);
    }
  });
}

/**
 * Replace `path` atomically with `data` (root's own state: a reader sees the old or the new
 * content, never a half-written file): a fresh O_EXCL temporary in the same trusted directory,
 * renamed over `path`. A symlink or anything else at `path` is replaced, never followed. With
 * `owner`, the file is theirs (a copy root writes for a user to read, never one root reads back).
 */
export function replaceFileAtomic(path: string, data: string, mode: number, owner?: Owner): void {
  withParent(path, (parent, name) => {
    const tmp = `.${name}.${randomBytes(6).toString('hex')}.tmp`;
    let fd: number;
    try {
      fd = openSync(at(parent, tmp), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (err) {
      throw new UnsafePathError(path, `cannot create its temporary file: ${(err as Error).message}`, { cause: err, fault: 'node' });
    }
    try {
      const buf = Buffer.from(data, 'utf8');
      for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
      if (owner) fchownSync(fd, owner.uid, owner.gid);
      fchmodSync(fd, mode);
    } catch (err) {
      closeSync(fd);
      unlinkSync(at(parent, tmp));
      throw err;
    }
    closeSync(fd);
    try {
      renameSync(at(parent, tmp), at(parent, name));
    } catch (err) {
      unlinkSync(at(parent, tmp));
      throw err;
    }
  });
}

/**
 * Take a directory back from whoever owns it (root:root 0700 through an O_NOFOLLOW descriptor),
 * so nobody else can add entries while root removes it. False when it does not exist; throws
 * when `path` is not a directory.
 */
export function seizeDir(path: string): boolean {
  return withParent(path, (parent, name) => {
    const st = lstatSync(at(parent, name), { throwIfNoEntry: false });
    if (!st) return false;
    if (!st.isDirectory()) throw new UnsafePathError(path, 'is not a directory', { fault: 'node' });
    const fd = openSync(at(parent, name), C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
    try {
      fchownSync(fd, 0, 0);
      fchmodSync(fd, 0o700);
    } finally {
      closeSync(fd);
    }
    return true;
  });
}

/** chown (when `owner` is given) then chmod an existing regular file or directory, never through a symlink. */
export function setOwnerMode(path: string, owner: Owner | null, mode: number): void {
  withParent(path, (parent, name) => {
    const fd = openExisting(parent, name, path, true, 'node');
    try {
      if (owner) fchownSync(fd, owner.uid, owner.gid);
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
  });
}

/** Read a small regular file in a trusted directory, not through a symlink. */
export function readFileNoFollow(path: string, maxBytes = 1 << 20): string {
  return withParent(path, (parent, name) => {
    const fd = openExisting(parent, name, path, false, 'node');
    try {
      const st = fstatSync(fd);
      if (st.size > maxBytes) throw new UnsafePathError(path, `is ${st.size} bytes, more than ${maxBytes}`, { fault: 'node' });
      return readFdFully(fd, st.size).toString('utf8');
    } finally {
      closeSync(fd);
    }
  });
}

/** Remove a file or symlink (never what it points to) in a trusted directory; false when absent. */
export function unlinkNoFollow(path: string): boolean {
  return withParent(path, (parent, name) => {
    const st = lstatSync(at(parent, name), { throwIfNoEntry: false });
    if (!st) return false;
    if (st.isDirectory()) throw new UnsafePathError(path, 'is a directory', { fault: 'node' });
    unlinkSync(at(parent, name));
    return true;
  });
}

/** lstat `path` reached through real directories only (ancestors trusted or not); null when missing. */
export function lstatNoFollow(path: string, opts: { trusted: boolean }): Stats | null {
  const els = pathElements(path, pathFault(opts));
  const name = els.pop();
  if (name === undefined) return walkStat([], opts);
  const parent = walk(els, opts);
  try {
    return parent ? lstatSync(at(parent, name), { throwIfNoEntry: false }) ?? null : null;
  } finally {
    closeDir(parent);
  }
}

function walkStat(els: string[], opts: { trusted: boolean }): Stats {
  const dir = walk(els, opts) as DirHandle;
  closeDir(dir);
  return dir.stat;
}

export interface OpenedFile {
  readonly fd: number;
  readonly stat: Stats;
  /** `/proc/<pid>/fd/<fd>`: lets a child process (run as root) open exactly this file. */
  readonly procPath: string;
  close(): void;
}

/**
 * Open a regular file read-only with no symlink at any element. `trusted: false` is for files in
 * user directories (a persistent disk): only the no-symlink and regular-file rules apply there.
 */
export function openNoFollow(path: string, opts: { trusted: boolean }): OpenedFile {
  const fault = pathFault(opts);
  const els = pathElements(path, fault);
  const name = els.pop();
  if (name === undefined) throw new UnsafePathError(path, 'is the root directory', { fault });
  const parent = walk(els, opts);
  if (!parent) throw new UnsafePathError(path, 'does not exist', { fault });
  try {
    const fd = openExisting(parent, name, path, false, fault);
    return { fd, stat: fstatSync(fd), procPath: `/proc/${process.pid}/fd/${fd}`, close: () => closeSync(fd) };
  } finally {
    closeDir(parent);
  }
}

/**
 * lstat first (so a device or FIFO is never opened), open O_NOFOLLOW|O_NONBLOCK, and check the
 * descriptor is the inode that was lstat'ed. `fault`: whose path it is (pathFault).
 */
function openExisting(parent: DirHandle, name: string, path: string, allowDir: boolean, fault: Fault): number {
  const st = lstatSync(at(parent, name), { throwIfNoEntry: false });
  if (!st) throw new UnsafePathError(path, 'does not exist', { fault });
  if (st.isSymbolicLink()) throw new UnsafePathError(path, 'is a symbolic link', { fault });
  if (!st.isFile() && !(allowDir && st.isDirectory())) throw new UnsafePathError(path, `is not a regular file${allowDir ? ' or directory' : ''}`, { fault });
  const fd = openSync(at(parent, name), FILE_READ);
  const now = fstatSync(fd);
  if (now.ino !== st.ino || now.dev !== st.dev) {
    closeSync(fd);
    throw new UnsafePathError(path, 'changed while it was being opened', { fault });
  }
  return fd;
}

/** Why a directory is unfit to hold root-side state, with the command that fixes it; null when fine. */
export function privateDirProblem(path: string, st: Stats): string | null {
  if (st.isSymbolicLink()) return 'is a symbolic link; point the setting at the real directory';
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== 0) return `is owned by uid ${st.uid}; fix with: chown root:root ${path}`;
  if ((st.mode & 0o022) !== 0) return `is writable by group or others (mode ${modeText(st)}); fix with: chmod go-w ${path}`;
  return null;
}
