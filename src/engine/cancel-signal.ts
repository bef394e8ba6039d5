import { join } from 'node:path';
import type { SiteConfig } from '../core/config/index.js';
import { CANCEL_DIR, CANCEL_MARKER, jobDirName } from '../core/contract/job-state.v1.js';
import { lstatNoFollow, mkdirPrivate, removeTree, seizeDir } from '../core/fs/index.js';

/**
 * A job owner's "cancel my job" signal to a root start that is still booting (Torque's
 * epilogue.precancel runs as the owner; it cannot signal root).
 *
 * `SPOOL_DIR/cancel` is root's 0711: nobody but root can create, rename or remove entries in it.
 * For each VM job the start makes `SPOOL_DIR/cancel/<job>/`, owned by the job owner, 0700, fresh
 * (a previous attempt's is removed first). The owner signals by making any entry in it (the hook
 * front does `mkdir <dir>/requested`: mkdir never follows a link and never blocks). No other user
 * can pre-create, redirect or block it: they can neither write the parent nor enter the owner's
 * directory, whatever `fs.protected_*` says. Root only lstats inside it, never opens anything there,
 * and takes the directory back (root 0700) before removing it, with a bound on the entries.
 */
export { CANCEL_DIR, CANCEL_MARKER };
/** Removal of an owner-writable directory stays bounded in time; more is left to gc. */
const MAX_ENTRIES = 10_000;

export function cancelDirPath(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): string {
  return join(config.SPOOL_DIR, CANCEL_DIR, jobDirName(jobId));
}

/**
 * Make sure the job's cancel directory is its owner's (before the start does anything slow). The
 * prologue front makes it before the site's prologue runs, so a cancel that lands meanwhile is
 * kept: an existing directory is kept when it is the owner's 0700 in a parent only root can
 * write; anything else there is removed (bounded) and made afresh.
 */
export function openCancelSignal(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string, owner: { uid: number; gid: number }): void {
  // Also turns an older install's sticky 1733 directory into root's 0711.
  mkdirPrivate(join(config.SPOOL_DIR, CANCEL_DIR), 0o711);
  const dir = cancelDirPath(config, jobId);
  const st = lstatNoFollow(dir, { trusted: true });
  if (st?.isDirectory() && st.uid === owner.uid && (st.mode & 0o7777) === 0o700) return;
  removeCancelSignal(config, jobId);
  mkdirPrivate(dir, 0o700, owner);
}

/** Has the owner asked to cancel? The marker may be of any type: only he can make entries there. */
export function cancelRequested(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): boolean {
  const st = lstatNoFollow(join(cancelDirPath(config, jobId), CANCEL_MARKER), { trusted: false });
  return st !== null;
}

/** Remove the job's cancel directory, never following anything in it; bounded (see MAX_ENTRIES). */
export function removeCancelSignal(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): string[] {
  const top = join(config.SPOOL_DIR, CANCEL_DIR);
  const st = lstatNoFollow(top, { trusted: true });
  if (!st?.isDirectory()) return [];
  const dir = cancelDirPath(config, jobId);
  const entry = lstatNoFollow(dir, { trusted: true });
  if (!entry) return [];
  if (entry.isDirectory()) seizeDir(dir);
  return removeTree(dir, { maxEntries: MAX_ENTRIES });
}
