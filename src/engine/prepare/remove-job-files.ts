import { jobDirPath as contractJobDirPath } from '../../core/contract/job-state.v1.js';
import type { SiteConfig } from '../../core/config/index.js';
import { removeTree } from '../../core/fs/index.js';
import { ramdiskPath, unmountRamdisk } from './ramdisk.js';
import { resolveTools } from './tools.js';
import type { LogFn, PrepareTools } from './types.js';

export interface RemoveJobFilesOptions {
  /** Keep `vms/*\/console.log` and the directories holding them. */
  readonly keepLogs: boolean;
  /** The job's tmpfs as its start recorded it (default: where the config puts it now). */
  readonly ramdisk?: string;
  readonly tools?: Partial<PrepareTools>;
  readonly log?: LogFn;
}

const CONSOLE_LOG = /^vms\/[^/]+\/console\.log$/;

export function jobDirPath(config: SiteConfig, jobId: string): string {
  return contractJobDirPath(config.SPOOL_DIR, jobId);
}

/**
 * Remove what prepareJob made for a job: unmount its tmpfs (when /proc/self/mountinfo lists that
 * exact path), remove the mount point and the job directory without following symlinks or
 * crossing mounts. Idempotent; safe after a partial prepare. Every step is tried; the first error
 * is thrown after the others ran. Returns the removed paths.
 */
export async function removeJobFiles(config: SiteConfig, jobId: string, opts: RemoveJobFilesOptions): Promise<string[]> {
  const log = opts.log ?? (() => undefined);
  const ramdisk = opts.ramdisk ?? ramdiskPath(config, jobId);
  const removed: string[] = [];
  const errors: unknown[] = [];
  const attempt = async (fn: () => Promise<void> | void): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  };
  await attempt(async () => {
    const n = await unmountRamdisk(ramdisk, resolveTools(opts.tools));
    if (n > 0) log('unmounted the job tmpfs', { dir: ramdisk, mounts: n });
    removed.push(...removeTree(ramdisk));
  });
  await attempt(() => {
    removed.push(...removeTree(jobDirPath(config, jobId), opts.keepLogs ? { keep: (rel, st) => st.isFile() && CONSOLE_LOG.test(rel) } : {}));
  });
  if (errors.length > 1) log('removing job files: more than one step failed', { errors: errors.map(String) });
  if (errors.length > 0) throw errors[0];
  return removed;
}
