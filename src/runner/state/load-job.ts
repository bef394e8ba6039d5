import { existsSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { SiteConfig } from '../../core/config/index.js';
import { parseHostKey } from '../../core/ssh/host-key.js';
import { jobDirName, statePath as contractStatePath, type OutcomeV1 } from '../../core/contract/job-state.v1.js';
import type { JobScheduler } from '../scheduler-env.js';

const statePath = (config: SiteConfig, jobId: string, file: Parameters<typeof contractStatePath>[2]): string => contractStatePath(config.SPOOL_DIR, jobId, file);
import { readStateFile, stateError } from './read-state-file.js';
import { parseJobState, parseOutcome, parseVmRecords, type RunnerJobState } from './schema.js';

/** A VM the runner can reach: it has an address and a pinned host key. */
export interface JobVm {
  readonly name: string;
  readonly rank: number;
  readonly ip: string;
  /** `type base64 [comment]`, as the prologue generated it. */
  readonly hostKey: string;
  readonly vcpus: number;
  /** The host node it runs on (the job's rank layout, for the guest's VTORQUE_* variables). */
  readonly node: string;
}

/** Everything the runner needs from the job's state dir. */
export interface JobRun {
  readonly jobId: string;
  readonly user: string;
  readonly guestJobDir: string;
  readonly vmPrologue: string | null;
  readonly vmEpilogue: string | null;
  /** The user's job script, byte for byte. */
  readonly script: Buffer;
  readonly privateKey: Buffer;
  /** Rank order; `vms[0]` is rank 0, where the job runs. */
  readonly vms: readonly JobVm[];
}

const LIMITS = { json: 16 * 1024 * 1024, script: 64 * 1024 * 1024, key: 64 * 1024 } as const;

/**
 * Read and check the job's state: job.json, job-script and the key (the job owner's), vms.json
 * (root's: the VM addresses and host keys are taken only from there). Each file is re-parsed here.
 */
export function loadJobRun(config: SiteConfig, scheduler: JobScheduler, uid?: number): JobRun {
  const { jobId } = scheduler;
  const jobFile = statePath(config, jobId, 'job');
  const state = parseJobState(readJson(jobFile, 'self', uid), jobFile);
  checkIdentity(state, scheduler, jobFile);
  const vmsFile = statePath(config, jobId, 'vms');
  return {
    jobId,
    user: state.user,
    guestJobDir: state.guestJobDir,
    vmPrologue: state.vmPrologue,
    vmEpilogue: state.vmEpilogue,
    script: readStateFile(statePath(config, jobId, 'script'), 'self', LIMITS.script, uid),
    privateKey: readKey(statePath(config, jobId, 'key'), uid),
    vms: reachableVms(readJson(vmsFile, 'root', uid), vmsFile),
  };
}

function readJson(path: string, owner: 'root' | 'self', uid: number | undefined): unknown {
  const text = readStateFile(path, owner, LIMITS.json, uid).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw stateError(path, `is not valid JSON (${(err as Error).message})`, err);
  }
}

/**
 * Why the prologue did not start the job's VMs (OutcomeV1), or null when it did: the job's
 * owner reads it here because the scheduler delivers nothing of an aborted prologue.
 */
export function readOutcome(config: SiteConfig, scheduler: JobScheduler, uid?: number): OutcomeV1 | null {
  const { jobId } = scheduler;
  const path = statePath(config, jobId, 'outcome');
  if (!existsSync(path)) return null;
  const outcome = parseOutcome(readJson(path, 'self', uid), path);
  if (outcome.jobId !== jobId) throw stateError(path, `is for job ${JSON.stringify(outcome.jobId)}, not ${scheduler.idVariable} ${JSON.stringify(jobId)}`);
  return outcome;
}

/** The per-job private key, checked to be one ssh2 can log in with (unencrypted). */
function readKey(path: string, uid: number | undefined): Buffer {
  const key = readStateFile(path, 'self', LIMITS.key, uid);
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) throw stateError(path, `is not a usable private key (${parsed.message})`, parsed);
  return key;
}

function checkIdentity(state: RunnerJobState, { jobId, idVariable }: JobScheduler, source: string): void {
  if (state.jobId !== jobId) throw stateError(source, `is for job ${JSON.stringify(state.jobId)}, not ${idVariable} ${JSON.stringify(jobId)}`);
  if (state.guestJobDir !== jobDirName(jobId)) throw stateError(source, `guestJobDir ${JSON.stringify(state.guestJobDir)} does not belong to job ${jobId}`);
}

function reachableVms(raw: unknown, source: string): JobVm[] {
  const records = parseVmRecords(raw, source).sort((a, b) => a.rank - b.rank);
  if (records[0]?.rank !== 0) throw stateError(source, 'has no VM of rank 0');
  return records.map((r) => {
    if (r.ip === null) throw stateError(source, `VM ${r.name} has no IP address`);
    try {
      parseHostKey(r.hostKey);
    } catch (err) {
      throw stateError(source, `VM ${r.name}: ${(err as Error).message}`, err);
    }
    return { name: r.name, rank: r.rank, ip: r.ip, hostKey: r.hostKey, vcpus: r.vcpus, node: r.node };
  });
}
