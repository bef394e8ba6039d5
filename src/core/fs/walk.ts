import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
import { UnsafePathError, type Fault } from '../errors.js';

/**
 * Descriptor-relative path walking without openat(2): Node has no *at() calls, so every step goes
 * through `/proc/self/fd/<dirfd>/<name>`. The kernel resolves the magic link to the directory the
 * descriptor holds, never re-walking its path, and only `<name>` (a single element) is looked up,
 * with O_NOFOLLOW or lstat semantics. A component swapped for a symlink after it was opened changes
 * nothing; one swapped before is refused. This is how KubeVirt's safepath works too.
 */
export interface DirHandle {
  readonly fd: number;
  /** For messages only; never used to reach the directory again. */
  readonly path: string;
  readonly stat: Stats;
}

const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
export const S_ISVTX = 0o1000;

export const selfPath = (dir: DirHandle): string => `/proc/self/fd/${dir.fd}`;
/** `name` inside `dir`; `name` must be one path element (pathElements guarantees it). */
export const at = (dir: DirHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;
export const join2 = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

export function closeDir(dir: DirHandle | null): void {
  if (dir) closeSync(dir.fd);
}

/**
 * Whose problem an unsafe path is: below trusted (root-owned) directories it is the node's (a node
 * misconfigured or tampered with); an untrusted path is one the job named in its owner's
 * directories (its persistent disk), so a symlink or a missing file there is the job's.
 */
export const pathFault = (opts: { readonly trusted: boolean }): Fault => (opts.trusted ? 'node' : 'job');

/**
 * Absolute path → its elements; refuses relative paths, NUL, empty, `.` and `..` elements. `fault`:
 * whose path it is (the node's: one vTorque builds or the site config names; the job's: one it named).
 */
export function pathElements(path: string, fault: Fault = 'node'): string[] {
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0')) {
    throw new UnsafePathError(String(path), 'not an absolute path', { fault });
  }
  if (path === '/') return [];
  const parts = path.slice(1).split('/');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UnsafePathError(path, 'contains an empty, "." or ".." element', { fault });
  }
  return parts;
}

/** Root-owned and writable by nobody else (or sticky, like /tmp, where others cannot rename our entries). */
export function isTrustedDir(st: Stats): boolean {
  return st.uid === 0 && ((st.mode & 0o022) === 0 || (st.mode & S_ISVTX) !== 0);
}

/** Open `name` in `parent` as a directory, never through a symlink; null when it does not exist. `fault`: see pathFault. */
export function openDirAt(parent: DirHandle | null, name: string, display: string, fault: Fault): DirHandle | null {
  const target = parent ? at(parent, name) : '/';
  let fd: number;
  try {
    fd = openSync(target, DIR_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      const st = lstatSync(target, { throwIfNoEntry: false });
      throw new UnsafePathError(display, st?.isSymbolicLink() ? 'is a symbolic link' : 'is not a directory', { cause: err, fault });
    }
    throw err;
  }
  try {
    return { fd, path: display, stat: fstatSync(fd) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

export interface WalkOptions {
  /** Check every directory is root-owned and not group/other-writable (unless sticky). */
  readonly trusted: boolean;
  /** Create missing directories root:root 0755 (only with `trusted`). */
  readonly create?: boolean;
}

/**
 * Open the directory `elements` names, starting at `/`, one element at a time. Returns null when
 * an element is missing (and `create` is off); throws UnsafePathError for a symlink, a non-directory
 * or (with `trusted`) a directory someone other than root could change.
 */
export function walk(elements: readonly string[], opts: WalkOptions): DirHandle | null {
  let dir = openDirAt(null, '/', '/', 'node') as DirHandle;
  try {
    check(dir, opts);
    for (const name of elements) {
      const display = join2(dir.path, name);
      let next = openDirAt(dir, name, display, pathFault(opts));
      if (!next && opts.create && opts.trusted) next = createDir(dir, name, display, 0o755).dir;
      closeDir(dir);
      if (!next) return null;
      dir = next;
      check(dir, opts);
    }
    return dir;
  } catch (err) {
    closeDir(dir);
    throw err;
  }
}

function check(dir: DirHandle, opts: WalkOptions): void {
  if (!opts.trusted || isTrustedDir(dir.stat)) return;
  const why = dir.stat.uid !== 0 ? `is owned by uid ${dir.stat.uid}, not root` : `is writable by group or others (mode ${modeText(dir.stat)})`;
  throw new UnsafePathError(dir.path, `${why}; root-side files must sit under root-owned directories only root can write`, { fault: 'node' });
}

/**
 * mkdir `name` (0700 while it is ours alone), then chown before chmod through the new descriptor.
 * When someone else made it first (EEXIST) it is opened as it is, unchanged, for the caller to judge.
 */
export function createDir(parent: DirHandle, name: string, display: string, mode: number, owner = { uid: 0, gid: 0 }): { dir: DirHandle; created: boolean } {
  let created = true;
  try {
    mkdirSync(at(parent, name), 0o700);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    created = false;
  }
  const dir = openDirAt(parent, name, display, 'node');
  if (!dir) throw new UnsafePathError(display, 'vanished right after it was created', { fault: 'node' });
  if (!created) return { dir, created };
  try {
    fchownSync(dir.fd, owner.uid, owner.gid);
    fchmodSync(dir.fd, mode);
    return { dir: { ...dir, stat: fstatSync(dir.fd) }, created };
  } catch (err) {
    closeDir(dir);
    throw err;
  }
}

export function modeText(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}
