import { join } from 'node:path';
import type { SiteConfig } from '../core/config/index.js';
import { lstatNoFollow, mkdirPrivate, readFileNoFollow, unlinkNoFollow, writeFileExclusive } from '../core/fs/index.js';
import type { VmRequest } from '../core/request/index.js';
import { jobDirName, jobDirPath, OUTCOME_EXIT, STATE_FILES, statePath as contractStatePath, type JobStateV1, type OutcomeV1, type VmRecord } from '../core/contract/job-state.v1.js';
import type { PhaseMark } from '../engine/index.js';

export { STATE_FILES, type JobStateV1 } from '../core/contract/job-state.v1.js';

/** A state file of this job on this node. */
export function statePath(config: SiteConfig, jobId: string, file: keyof typeof STATE_FILES): string {
  return contractStatePath(config.SPOOL_DIR, jobId, file);
}

export function writeJobState(
  config: SiteConfig,
  job: { jobId: string; owner: { user: string; uid: number; gid: number } },
  request: VmRequest,
  script: string,
  vms: readonly VmRecord[],
  nodefile: string,
  timeline: readonly PhaseMark[],
): void {
  const owner = { uid: job.owner.uid, gid: job.owner.gid };
  const state: JobStateV1 = {
    version: 1,
    jobId: job.jobId,
    user: job.owner.user,
    guestJobDir: jobDirName(job.jobId),
    vms,
    vmPrologue: request.vm_prologue?.content ?? null,
    vmEpilogue: request.vm_epilogue?.content ?? null,
  };
  writeFileExclusive(statePath(config, job.jobId, 'job'), `${JSON.stringify(state, null, 2)}\n`, 0o400, owner);
  writeFileExclusive(statePath(config, job.jobId, 'script'), script, 0o400, owner);
  writeFileExclusive(statePath(config, job.jobId, 'nodefile'), nodefile, 0o644);
  writeFileExclusive(statePath(config, job.jobId, 'timeline'), `${JSON.stringify(timeline)}\n`, 0o644);
}

/**
 * Why the job did not start, for the runner to tell its owner (OutcomeV1): alone in a fresh
 * job state dir, owned by the owner 0400. Returns the exit code the job will end with.
 */
export function writeOutcome(config: SiteConfig, job: { jobId: string; owner: { uid: number; gid: number } }, fault: OutcomeV1['fault'], reason: string): number {
  const outcome: OutcomeV1 = { version: 1, jobId: job.jobId, fault, reason, exitCode: OUTCOME_EXIT[fault] };
  mkdirPrivate(join(config.SPOOL_DIR, 'jobs'), 0o711);
  mkdirPrivate(jobDirPath(config.SPOOL_DIR, job.jobId), 0o711);
  writeFileExclusive(statePath(config, job.jobId, 'outcome'), `${JSON.stringify(outcome)}\n`, 0o400, { uid: job.owner.uid, gid: job.owner.gid });
  return outcome.exitCode;
}

/**
 * Node faults per job, so a scheduler's requeue (Torque's has no backoff, ~4 starts a second)
 * cannot loop forever: kept outside the job dir, which every attempt starts afresh.
 */
export function countAttempt(config: SiteConfig, jobId: string): number {
  const dir = join(config.SPOOL_DIR, 'attempts');
  mkdirPrivate(dir, 0o700);
  const path = join(dir, jobDirName(jobId));
  let n = 0;
  if (lstatNoFollow(path, { trusted: true })) {
    n = Number(readFileNoFollow(path, 64).trim()) || 0;
    unlinkNoFollow(path);
  }
  writeFileExclusive(path, `${n + 1}\n`, 0o600);
  return n + 1;
}

/**
 * The job has left the scheduler's requeue loop (its VMs started, or it is aborted): drop its
 * node-fault counter, which would otherwise stay forever and count against a later start of the
 * same job id (qrerun, or ids restarting after `pbs_server -t create`). Best effort.
 */
export function clearAttempts(config: SiteConfig, jobId: string): void {
  const dir = join(config.SPOOL_DIR, 'attempts');
  try {
    if (lstatNoFollow(dir, { trusted: true })) unlinkNoFollow(join(dir, jobDirName(jobId)));
  } catch {
    // Best effort: a stale counter must never turn a started (or aborted) job into something else.
  }
}
