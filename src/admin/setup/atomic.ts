import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, fsyncSync, lchownSync, openSync, renameSync, symlinkSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';

/** A fresh name beside `path`, so the final rename stays on one file system. */
function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.vtorque-${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Write `content` as root:root `mode` at `path` without a moment where a half-written or
 * wrongly-owned file is visible: O_EXCL temp file, chown before chmod, fsync, rename over.
 * A symlink at `path` is replaced, never followed.
 */
export function writeFileAtomic(path: string, content: Buffer, mode: number): void {
  const temp = tempNameFor(path);
  let fd: number | null = null;
  try {
    fd = openSync(temp, 'wx', 0o600);
    let done = 0;
    while (done < content.length) done += writeSync(fd, content, done, content.length - done);
    fchownSync(fd, 0, 0);
    fchmodSync(fd, mode);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    removeQuietly(temp);
    throw new VtorqueError('INTERNAL', `cannot install ${path}: ${(err as Error).message}`, { cause: err, fault: 'node' });
  }
}

/** Make `path` a symlink to `target`, atomically replacing a file or link already there. */
export function symlinkAtomic(path: string, target: string): void {
  const temp = tempNameFor(path);
  try {
    symlinkSync(target, temp);
    lchownSync(temp, 0, 0);
    renameSync(temp, path);
  } catch (err) {
    removeQuietly(temp);
    throw new VtorqueError('INTERNAL', `cannot link ${path} -> ${target}: ${(err as Error).message}`, { cause: err, fault: 'node' });
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // nothing was left behind
  }
}
