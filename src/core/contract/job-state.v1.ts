import { isIP } from 'node:net';
import { join } from 'node:path';
import * as v from 'valibot';

/**
 * Contract v1 between the root prologue and the job runner (the job user): the job's state dir
 * `SPOOL_DIR/jobs/<job>/` (root 0711). The engine writes `vms.json` (root 0644: the runner trusts
 * addresses and host keys only from there) and `ssh/` (the per-job key, owned by the job owner
 * 0600, and `known_hosts`); the prologue adds `job.json` and `job-script` (owned by the owner 0400:
 * the user's own request and script), `nodefile` and `timeline.json` (0644).
 */
/** The contract script files (vm_prologue, vm_epilogue) are bounded like the request's embedded files. */
const SCRIPT_MAX = 4 * 1024 * 1024;
const script = v.nullable(v.pipe(v.string(), v.maxLength(SCRIPT_MAX)));
const jobId = v.pipe(v.string(), v.minLength(1), v.maxLength(256));

/** One VM of the job in `vms.json`: where it runs, its address, the host key the runner pins. */
export const VmRecordSchema = v.object({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,128}$/, 'a VM name')),
  node: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  rank: v.pipe(v.number(), v.integer(), v.minValue(0)),
  hostname: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  mac: v.pipe(v.string(), v.regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i, 'a MAC address')),
  ip: v.nullable(v.pipe(v.string(), v.check((s) => isIP(s) !== 0, 'an IP address'))),
  // Records written before vcpus was recorded count as one vCPU each.
  vcpus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)), 1),
  hostKey: v.pipe(v.string(), v.minLength(1), v.maxLength(16384)),
  persistentDisk: v.boolean(),
});
export type VmRecord = Readonly<v.InferOutput<typeof VmRecordSchema>>;
export const VmRecordsSchema = v.pipe(v.array(VmRecordSchema), v.minLength(1));

/** `job.json`: what the runner needs of the job besides its VMs (the prologue's copy of them included). */
export const JobStateV1Schema = v.object({
  version: v.literal(1),
  jobId,
  user: v.pipe(v.string(), v.regex(/^[^\0-\x20\x7f:/]{1,64}$/, 'a user name')),
  guestJobDir: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$/, 'one safe path element')),
  vms: v.array(VmRecordSchema),
  vmPrologue: script,
  vmEpilogue: script,
});
export type JobStateV1 = Readonly<Omit<v.InferOutput<typeof JobStateV1Schema>, 'vms'>> & { readonly vms: readonly VmRecord[] };

/**
 * Why a VM job did not start, for its owner: Torque delivers nothing of an aborted prologue (no
 * `.o`, no mail), so the prologue lets the job "run" and the runner reports this and exits with
 * `exitCode` (doc/user.md). Owned by the job owner, 0400, alone in the job's state dir.
 */
export const OutcomeV1Schema = v.object({
  version: v.literal(1),
  jobId,
  /** Whose fault: the job's (request, policy), the node's (after the last requeue), a cancel. */
  fault: v.picklist(['job', 'node', 'cancel']),
  /** One sentence, as the prologue said it. */
  reason: v.pipe(v.string(), v.maxLength(4096)),
  exitCode: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(255)),
});
export type OutcomeV1 = Readonly<v.InferOutput<typeof OutcomeV1Schema>>;

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
