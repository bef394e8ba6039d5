import { join } from 'node:path';
import type { SiteConfig } from '../core/config/index.js';
import { mkdirPrivate, unlinkNoFollow } from '../core/fs/index.js';
import { acquireNodeLock, type HeldLock } from '../core/node/lock.js';
import { jobDirName, type EngineLog } from '../engine/index.js';
import { reason } from './classify.js';

/**
 * One job's start on this node, held from the adapter's first step to its last (the outcome it
 * leaves included). A stop takes it before it decides anything, so it never runs beside the start:
 * under Torque a qdel of a multi-node job during its prologue makes pbs_mom run the epilogue while
 * the prologue is still undoing its start (measured on the testbed), and the outcome the prologue
 * then left was never removed. An flock held by a child (core/node/lock.ts): a killed start frees it.
 */
export function jobLockPath(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): string {
  return join(config.SPOOL_DIR, 'locks', `${jobDirName(jobId)}.lock`);
}

/** Run a job's start holding its lock (waiting at most `timeoutMs` for a stop still running). */
export async function withJobStartLock<T>(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  mkdirPrivate(join(config.SPOOL_DIR, 'locks'), 0o700);
  const held = await acquireNodeLock(jobLockPath(config, jobId), { timeoutMs });
  try {
    return await fn();
  } finally {
    await held.release();
  }
}

/**
 * For a stop: wait (bounded) until no start of the job runs here, then hold the lock until the
 * stop is done. Null when the lock could not be had in time: the stop goes on without it (what a
 * start then leaves, the next stop or gc removes).
 */
export async function awaitJobStart(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string, timeoutMs: number, log: EngineLog): Promise<HeldLock | null> {
  try {
    mkdirPrivate(join(config.SPOOL_DIR, 'locks'), 0o700);
    return await acquireNodeLock(jobLockPath(config, jobId), { timeoutMs, onWait: () => log.info({ jobId }, 'the job is still starting here; the stop waits for it') });
  } catch (err) {
    log.warn({ jobId, err: reason(err) }, 'the stop could not wait for the start of the job; it goes on');
    return null;
  }
}

/** The stop is done: drop the lock file (it is empty) and let go. */
export async function releaseJobLock(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string, held: HeldLock | null): Promise<void> {
  if (held === null) return;
  try {
    unlinkNoFollow(jobLockPath(config, jobId));
  } catch {
    /* already gone */
  }
  await held.release();
}
