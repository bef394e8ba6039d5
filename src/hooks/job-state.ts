import { join } from 'node:path';
import type { SiteConfig } from '../core/config/schema.js';
import { lstatNoFollow, mkdirPrivate, readFileNoFollow, unlinkNoFollow, writeFileExclusive } from '../core/fs/index.js';
import type { VmRequest } from '../core/request/types.js';
import { jobDirName, jobDirPath, type PhaseMark, type VmRecord } from '../engine/index.js';

/**
 * What the root prologue leaves for the job runner in the job's state dir
 * (`SPOOL_DIR/jobs/<job>/`, root 0711): `job.json` and `job-script` (owned by the job owner, 0400:
 * they hold the user's own script and request), `nodefile` (the VM node file, 0644) and
 * `timeline.json` (phase timings, 0644). The engine already put `vms.json` and `ssh/` there.
 */
export interface JobStateV1 {
  readonly version: 1;
  readonly jobId: string;
  readonly user: string;
  readonly guestJobDir: string;
  readonly vms: readonly VmRecord[];
  readonly vmPrologue: string | null;
  readonly vmEpilogue: string | null;
}

export const STATE_FILES = { job: 'job.json', script: 'job-script', nodefile: 'nodefile', timeline: 'timeline.json', key: 'ssh/id_ed25519' } as const;

export function statePath(config: SiteConfig, jobId: string, file: keyof typeof STATE_FILES): string {
  return join(jobDirPath(config, jobId), STATE_FILES[file]);
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
 * Node faults per job, so Torque's requeue (no backoff, ~4 starts a second) cannot loop forever:
 * kept outside the job dir, which every attempt starts afresh.
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

/** The cancel marker `epilogue.precancel` (running as the job owner) drops; only the owner's counts. */
export function cancelRequested(config: SiteConfig, jobId: string, ownerUid: number): boolean {
  const st = lstatNoFollow(join(config.SPOOL_DIR, 'cancel', jobId), { trusted: true });
  return st !== null && st.isFile() && st.uid === ownerUid;
}
