import { UnsafePathError } from '../../core/errors.js';
import { lstatNoFollow, mkdirPrivate, privateDirProblem } from '../../core/fs/index.js';

/**
 * A root-side top directory (SPOOL_DIR, RAMDISK_DIR): created root:root 0755 when missing (its
 * parents must be root-owned and writable by nobody else), otherwise it must be a real directory
 * owned by root and not writable by group or others. A bad one is refused with the command that
 * fixes it, never silently changed.
 */
export function ensureRootDir(path: string, key: string): void {
  const st = lstatNoFollow(path, { trusted: true });
  if (!st) {
    mkdirPrivate(path, 0o755);
    return;
  }
  const problem = privateDirProblem(path, st);
  if (problem) throw new UnsafePathError(path, `${key} ${problem}`, { fault: 'node' });
}
