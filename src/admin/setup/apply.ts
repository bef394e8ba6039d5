import { chmodSync, chownSync, lstatSync, mkdirSync, renameSync, rmdirSync, unlinkSync } from 'node:fs';
import { UnsafePathError, VtorqueError } from '../../core/errors.js';
import { formatAction, type Action } from './actions.js';
import { symlinkAtomic, writeFileAtomic } from './atomic.js';

/**
 * Perform one planned action. Nothing here follows a symlink: removals lstat first and unlink
 * the link itself; files are replaced by rename. Returns a note when the action was skipped.
 */
export function applyAction(action: Action): string | null {
  try {
    switch (action.kind) {
      case 'mkdir':
        mkdirSync(action.path, { mode: 0o700 });
        chownSync(action.path, 0, 0);
        chmodSync(action.path, action.mode);
        return null;
      case 'chmod':
        if (!lstatSync(action.path).isDirectory()) throw new UnsafePathError(action.path, 'is no longer a directory', { fault: 'node' });
        chownSync(action.path, 0, 0);
        chmodSync(action.path, action.mode);
        return null;
      case 'install':
        writeFileAtomic(action.path, action.content, action.mode);
        return null;
      case 'rename':
        renameSync(action.from, action.to);
        return null;
      case 'link':
        symlinkAtomic(action.path, action.target);
        return null;
      case 'remove':
        return removeEntry(action.path);
      case 'rmdir':
        return removeDirIfEmpty(action.path);
    }
  } catch (err) {
    if (err instanceof VtorqueError) throw err;
    throw new VtorqueError('INTERNAL', `${formatAction(action)}: ${(err as Error).message}`, { cause: err, fault: 'node' });
  }
}

function removeEntry(path: string): string | null {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (st.isDirectory()) return `kept ${path}: it is a directory`;
  unlinkSync(path);
  return null;
}

function removeDirIfEmpty(path: string): string | null {
  try {
    if (!lstatSync(path).isDirectory()) return `kept ${path}: not a directory`;
    rmdirSync(path);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return `kept ${path}: not empty`;
    if (code === 'EBUSY') return `kept ${path}: in use (a mount point?)`;
    throw err;
  }
}
