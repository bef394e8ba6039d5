import { join } from 'node:path';

/**
 * Contract v1 between the root prologue and the job runner (the job user): the job's state dir
 * `SPOOL_DIR/jobs/<job>/` (root 0711). The engine writes `vms.json` (root 0644: the runner trusts
 * addresses and host keys only from there) and `ssh/` (the per-job key, owned by the job owner
 * 0600, and `known_hosts`); the prologue adds `job.json` and `job-script` (owned by the owner 0400:
 * the user's own request and script), `nodefile` and `timeline.json` (0644).
 */
export interface VmRecord {
  readonly name: string;
  readonly node: string;
  readonly rank: number;
  readonly hostname: string;
  readonly mac: string;
  readonly ip: string | null;
  readonly vcpus: number;
  readonly hostKey: string;
  readonly persistentDisk: boolean;
}

export interface JobStateV1 {
  readonly version: 1;
  readonly jobId: string;
  readonly user: string;
  readonly guestJobDir: string;
  readonly vms: readonly VmRecord[];
  readonly vmPrologue: string | null;
  readonly vmEpilogue: string | null;
}

/**
 * Why a VM job did not start, for its owner: Torque delivers nothing of an aborted prologue (no
 * `.o`, no mail), so the prologue lets the job "run" and the runner reports this and exits with
 * `exitCode` (doc/user.md). Owned by the job owner, 0400, alone in the job's state dir.
 */
export interface OutcomeV1 {
  readonly version: 1;
  readonly jobId: string;
  /** Whose fault: the job's (request, policy), the node's (after the last requeue), a cancel. */
  readonly fault: 'job' | 'node' | 'cancel';
  /** One sentence, as the prologue said it. */
  readonly reason: string;
  readonly exitCode: number;
}

/** The job's exit code for each kind of outcome (sysexits: EX_DATAERR, EX_UNAVAILABLE; 128 + SIGTERM). */
export const OUTCOME_EXIT: Readonly<Record<OutcomeV1['fault'], number>> = { job: 65, node: 69, cancel: 143 };

export const STATE_FILES = { job: 'job.json', script: 'job-script', nodefile: 'nodefile', timeline: 'timeline.json', key: 'ssh/id_ed25519', vms: 'vms.json', outcome: 'outcome.json' } as const;

/**
 * Root's spool beside the job dirs (SPOOL_DIR/...): `records/<job>.json`, root's record of each VM
 * job's start (what teardown acts on); `cancel/<job>/`, the owner's cancel directory, in which
 * epilogue.precancel makes `requested`. The hook fronts (sh) test these paths without Node.
 */
export const RECORDS_DIR = 'records';
export const CANCEL_DIR = 'cancel';
export const CANCEL_MARKER = 'requested';

/** A job id as one safe path element (Torque ids look like `123.server` or `123[4].server`). */
export function jobDirName(jobId: string): string {
  const clean = jobId.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/^[._-]+/, '');
  return clean.slice(0, 120) || 'x';
}

export function jobDirPath(spoolDir: string, jobId: string): string {
  return join(spoolDir, 'jobs', jobDirName(jobId));
}

export function statePath(spoolDir: string, jobId: string, file: keyof typeof STATE_FILES): string {
  return join(jobDirPath(spoolDir, jobId), STATE_FILES[file]);
}
