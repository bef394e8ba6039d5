import { dirname, join } from 'node:path';
import * as v from 'valibot';
import type { SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { ENDED_JOB_STATES } from '../job-states.js';

/** A job as the controller has it, only what the hooks decide from (none of it text the user chose). */
export interface SlurmJob {
  readonly jobId: string;
  readonly state: string;
  /** The node that runs the batch script: rank 0. */
  readonly batchHost: string;
  readonly userId: number;
  /** MiB the controller allocated to the job on each node (absent: memory is not a consumable resource here). */
  readonly memoryMiB: ReadonlyMap<string, number>;
}

/** The Slurm commands the root hooks use, each bounded in time; argv arrays only. */
export interface SlurmClient {
  /** The batch script as slurmctld stored it at submission (`scontrol write batch_script`): what the user can no longer change. */
  batchScript(jobId: string): Promise<string>;
  /** The job's state (RUNNING, COMPLETING, …), or null when the controller no longer knows it: the cancel probe's question, asked every 2 s while the VMs boot. */
  state(jobId: string): Promise<string | null>;
  /** The job and the ids of the jobs that have not ended (what gc may not reap), from one listing. */
  queue(jobId: string): Promise<{ readonly job: SlurmJob | null; readonly active: ReadonlySet<string> }>;
  /** `scontrol show hostnames`: a compressed node list in order. */
  hostnames(list: string): Promise<string[]>;
  /** Put the job back in the queue (Slurm holds it back cred_expire seconds, then schedules it again). */
  requeue(jobId: string): Promise<void>;
  /** A pending job's earliest start: `seconds` from now. */
  holdBack(jobId: string, seconds: number): Promise<void>;
  /** A line for the owner in the job's AdminComment (best effort: said, never relied on). */
  note(jobId: string, text: string): Promise<void>;
  /** `scontrol show config` text. */
  showConfig(): Promise<string>;
}

const CALL_TIMEOUT_MS = 20_000;
/** slurmctld refuses scripts over max_script_size (4 MiB by default); a longer answer is not a script of ours. */
const MAX_SCRIPT_CHARS = 64 << 20;

// squeue --json (openapi v0.0.38 in 22.05): the fields used, everything else ignored.
const JobSchema = v.object({
  job_id: v.number(),
  job_state: v.string(),
  batch_host: v.optional(v.string(), ''),
  user_id: v.number(),
  job_resources: v.optional(
    v.object({ allocated_nodes: v.optional(v.array(v.object({ nodename: v.string(), memory_allocated: v.optional(v.number(), 0) })), []) }),
    { allocated_nodes: [] },
  ),
});
const QueueSchema = v.object({ jobs: v.array(v.unknown()) });

export function slurmClient(c: Pick<SiteConfig, 'SLURM_SCONTROL' | 'SLURM_CONF'>, env: NodeJS.ProcessEnv): SlurmClient {
  const conf = c.SLURM_CONF !== '' ? c.SLURM_CONF : (env.SLURM_CONF ?? '');
  // Hooks have no PATH (slurm-hook-contract.md G6); squeue sits beside scontrol in every Slurm install.
  const squeue = join(dirname(c.SLURM_SCONTROL), 'squeue');
  const childEnv: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...(conf === '' ? {} : { SLURM_CONF: conf }) };
  const call = async (file: string, args: string[]): Promise<string> => (await run(file, args, { env: childEnv, timeoutMs: CALL_TIMEOUT_MS })).stdout;
  return {
    async batchScript(jobId) {
      const text = await call(c.SLURM_SCONTROL, ['write', 'batch_script', jobId, '-']);
      if (text.length > MAX_SCRIPT_CHARS) throw new VtorqueError('REQUEST_INVALID', `the controller's copy of job ${jobId}'s script is over ${MAX_SCRIPT_CHARS >> 20} MiB`, { fault: 'job' });
      return text;
    },
    async state(jobId) {
      // The plain format honours -j (the JSON one lists every job in 22.05) and prints nothing the user chose.
      const r = await run(squeue, ['-h', '-j', jobId, '-t', 'all', '-o', '%T'], { env: childEnv, timeoutMs: CALL_TIMEOUT_MS, reject: false });
      if (r.exitCode !== 0) {
        if (/Invalid job id/i.test(r.stderr)) return null;
        throw new VtorqueError('COMMAND_FAILED', `squeue -j ${jobId}: ${r.stderr.trim().split('\n').pop() || `exit code ${r.exitCode}`}`, { fault: 'node' });
      }
      return r.stdout.trim().split('\n')[0]?.trim() || null;
    },
    async queue(jobId) {
      // Every job is listed anyway (22.05): the one answer gives both.
      const out = await call(squeue, ['--json']);
      return { job: pickJob(out, jobId), active: activeIds(out) };
    },
    async hostnames(list) {
      return (await call(c.SLURM_SCONTROL, ['show', 'hostnames', list])).split('\n').map((l) => l.trim()).filter(Boolean);
    },
    async requeue(jobId) {
      await call(c.SLURM_SCONTROL, ['requeue', jobId]);
    },
    async holdBack(jobId, seconds) {
      await call(c.SLURM_SCONTROL, ['update', `jobid=${jobId}`, `StartTime=now+${Math.max(1, Math.round(seconds))}`]);
    },
    async note(jobId, text) {
      await run(c.SLURM_SCONTROL, ['update', `jobid=${jobId}`, `AdminComment=${text.replace(/[\0-\x1f]/g, ' ').slice(0, 500)}`], { env: childEnv, timeoutMs: CALL_TIMEOUT_MS, reject: false });
    },
    async showConfig() {
      return call(c.SLURM_SCONTROL, ['show', 'config']);
    },
  };
}

function queueJobs(json: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new VtorqueError('COMMAND_FAILED', `squeue --json gave no JSON: ${(err as Error).message}`, { fault: 'node', cause: err });
  }
  const queue = v.safeParse(QueueSchema, parsed);
  if (!queue.success) throw new VtorqueError('COMMAND_FAILED', 'squeue --json gave no "jobs" list', { fault: 'node' });
  return queue.output.jobs;
}

/** Ids of the listed jobs that have not ended. */
export function activeIds(json: string): Set<string> {
  const out = new Set<string>();
  for (const raw of queueJobs(json)) {
    const j = raw as { job_id?: unknown; job_state?: unknown };
    if (typeof j.job_id === 'number' && !(typeof j.job_state === 'string' && ENDED_JOB_STATES.has(j.job_state))) out.add(String(j.job_id));
  }
  return out;
}

/** Our job out of squeue's JSON (null: not there). */
export function pickJob(json: string, jobId: string): SlurmJob | null {
  for (const raw of queueJobs(json)) {
    if (typeof raw !== 'object' || raw === null || String((raw as { job_id?: unknown }).job_id) !== jobId) continue;
    const j = v.safeParse(JobSchema, raw);
    if (!j.success) throw new VtorqueError('COMMAND_FAILED', `squeue --json: job ${jobId} lacks ${j.issues[0]?.path?.map((p) => String(p.key)).join('.') ?? 'a field'}`, { fault: 'node' });
    const memory = new Map<string, number>();
    for (const n of j.output.job_resources.allocated_nodes) if (n.memory_allocated > 0) memory.set(n.nodename, n.memory_allocated);
    return { jobId, state: j.output.job_state, batchHost: j.output.batch_host, userId: j.output.user_id, memoryMiB: memory };
  }
  return null;
}
