import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, fsyncSync, ftruncateSync, lstatSync, openSync, readSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';

/** A file copied under a temporary name beside its target, not yet in place. */
export interface StagedFile {
  readonly tmp: string;
  readonly target: string;
  /** Of the bytes copied, computed while copying them (no second read). */
  readonly sha256: string;
  readonly sizeBytes: number;
}

const CHUNK = 4 << 20;
const ZERO = Buffer.alloc(CHUNK);
const SOURCE_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;
const TMP_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

/** The temporary name a copy into `target` is made under: hidden, never an image name (`.tmp`). */
export function tmpNameFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.vmgr-${randomBytes(6).toString('hex')}.tmp`);
}

function refuse(message: string): never {
  throw new VtorqueError('REQUEST_INVALID', message, { fault: 'job' });
}

/**
 * Open `source` for reading as the regular file it is: lstat first (a symlink, directory, FIFO or
 * device is refused and never opened), then O_NOFOLLOW|O_NONBLOCK, and the descriptor must be the
 * inode that was lstat'ed.
 */
function openSource(source: string, what: string): { fd: number; st: Stats } {
  const st = lstatSync(source, { throwIfNoEntry: false });
  if (!st) refuse(`${what} ${source} does not exist: expected a regular file`);
  if (!st.isFile()) refuse(`${what} ${source} is a symbolic link, directory, FIFO or device: expected a regular file`);
  const fd = openSync(source, SOURCE_FLAGS);
  const now = fstatSync(fd);
  if (!now.isFile() || now.ino !== st.ino || now.dev !== st.dev) {
    closeSync(fd);
    refuse(`${what} ${source} changed while it was opened: expected a regular file nothing replaces meanwhile`);
  }
  return { fd, st: now };
}

/**
 * Copy `source` to a fresh temporary name beside `target` (O_EXCL, 0600 while written), hashing
 * every byte as it passes; runs of zeros are left as holes (a sparse image stays sparse). The copy
 * is root:root 0444 and fsynced before this returns; `commitStaged` renames it into place.
 * `checkHead` sees the first bytes read and may refuse the file. A source that changes while it is
 * copied (size or modification time) is refused. On any failure the temporary file is removed.
 */
export function stageCopy(source: string, target: string, what: string, checkHead?: (head: Buffer) => void): StagedFile {
  const { fd, st } = openSource(source, what);
  let out: number | null = null;
  const tmp = tmpNameFor(target);
  try {
    out = openSync(tmp, TMP_FLAGS, 0o600);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      const chunk = buf.subarray(0, n);
      if (pos === 0) checkHead?.(chunk);
      hash.update(chunk);
      if (!chunk.equals(ZERO.subarray(0, n))) {
        for (let off = 0; off < n; ) off += writeSync(out, chunk, off, n - off, pos + off);
      }
      pos += n;
    }
    ftruncateSync(out, pos);
    const after = fstatSync(fd);
    if (pos !== st.size || after.size !== st.size || after.mtimeMs !== st.mtimeMs) {
      refuse(`${what} ${source} changed while it was copied: add it when nothing writes it`);
    }
    fchownSync(out, 0, 0);
    fchmodSync(out, 0o444);
    fsyncSync(out);
    return { tmp, target, sha256: hash.digest('hex'), sizeBytes: pos };
  } catch (err) {
    if (out !== null) rmSync(tmp, { force: true });
    throw err;
  } finally {
    if (out !== null) closeSync(out);
    closeSync(fd);
  }
}

/** Rename a staged copy into place (replacing what is there, never following it). */
export function commitStaged(file: StagedFile): void {
  renameSync(file.tmp, file.target);
}

/** Remove staged copies that will not be committed. */
export function dropStaged(files: readonly StagedFile[]): void {
  for (const f of files) rmSync(f.tmp, { force: true });
}

/** Make the renames in `dir` durable. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write a small root:root 0444 file atomically (temporary name, fsync, rename); returns its path. */
export function writeSmallFile(path: string, text: string): string {
  const tmp = tmpNameFor(path);
  const fd = openSync(tmp, TMP_FLAGS, 0o600);
  try {
    const data = Buffer.from(text, 'utf8');
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    fchownSync(fd, 0, 0);
    fchmodSync(fd, 0o444);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return path;
}
