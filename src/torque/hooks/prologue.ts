import type { SiteConfig } from '../../core/config/index.js';
import { decodeJobScript } from '../../core/contract/job-script.v1.js';
import { readFileNoFollow } from '../../core/fs/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import {
  clearAttempts, countAttempt, dropCancelSignal, faultOf, leaveOutcome, readySummary, reason, resolveOwner, startJob, type EngineLog, type Fault, type JobContext, type JobOwner,
} from '../../lifecycle/index.js';
import { torqueActiveJobs } from './active-jobs.js';
import { isAcceptedName, type HookContext } from './context.js';
import { MAX_NODE_FAULTS, PROLOGUE_EXIT } from './exit-codes.js';
import { localFirst, readAllocation } from './nodes.js';

export interface PrologueDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly env: NodeJS.ProcessEnv;
  readonly log: EngineLog;
  /** The job's output (pbs_mom connected the prologue's stdout to the job's .OU file). */
  readonly say: (line: string) => void;
  /** Seconds pbs_mom gives the prologue before it SIGKILLs the session. */
  readonly alarmSeconds: number;
}

/** Torque kills the prologue at its alarm: the start finishes (or fails and tears down) this long before. */
const ALARM_MARGIN_SECONDS = 15;

/**
 * The mother superior prologue for a VM job, Torque's side only: read the request from Torque's
 * copy of the job script, make the job context (owner, allocation from PBS_NODEFILE and the
 * resource list, deadline from $prologalarm, the PBS variables), let the lifecycle start it, and
 * map its outcome to what pbs_mom understands. Exit 0: the job runs (in its VMs, or, when it
 * cannot start — the job's fault, a cancel, the last node fault — only to tell its owner why);
 * 2: requeue (a node fault, at most MAX_NODE_FAULTS times); 1 only where no reason can be left.
 */
export async function runPrologue(ctx: HookContext, deps: PrologueDeps): Promise<number> {
  const { config: c } = deps;
  const deadlineAt = Date.now() + Math.min(c.PROLOGUE_TIMEOUT, deps.alarmSeconds - ALARM_MARGIN_SECONDS) * 1000;
  if (ctx.nameProblem !== null) {
    // A user name we refuse cannot be resolved (the job is then aborted, its reason only in the
    // node's spool); a refused group still lets the owner be told, with his primary group.
    dropCancelSignal(c, ctx.jobId, deps.log);
    const owner = isAcceptedName(ctx.user) ? await resolveOwner(ctx.user, '').catch(() => null) : null;
    return ended(ctx, deps, `the VM job cannot start: ${ctx.nameProblem}`, 'job', owner);
  }
  let decoded;
  try {
    decoded = decodeJobScript(readFileNoFollow(ctx.scriptPath, 64 << 20), ctx.scriptPath);
  } catch (err) {
    // A malformed or forged request: the user's to fix, so say it where he will read it.
    dropCancelSignal(c, ctx.jobId, deps.log);
    return ended(ctx, deps, `the VM job cannot start: ${reason(err)}`, 'job', await resolveOwner(ctx.user, ctx.group).catch(() => null));
  }
  if (!decoded) {
    dropCancelSignal(c, ctx.jobId, deps.log);
    return ctx.origRc; // the front saw the marker, the file no longer has it: plain job
  }
  let owner: JobOwner | null = null;
  let job: JobContext;
  let active: ((jobIdOrDirName: string) => boolean) | undefined;
  try {
    owner = await resolveOwner(ctx.user, ctx.group);
    // Every node of the job with its share; the others are reached through their node agents.
    const alloc = readAllocation(deps.env.PBS_NODEFILE, ctx.resources);
    job = {
      jobId: ctx.jobId,
      owner,
      request: decoded.request,
      requestSource: ctx.scriptPath,
      script: decoded.script,
      // This node first: Torque runs the prologue on the mother superior, whose node is rank 0;
      // the sisters follow in PBS_NODEFILE order.
      allocation: localFirst(alloc),
      deadlineAt,
      scheduler: { name: 'Torque', submit: 'vsub' },
      guestEnv: (guest) => pbsEnv(ctx, deps.env, guest.slots, guest.nodeFile),
      // Made on first use, inside the lifecycle's bounded gc: a missing mom_priv/jobs fails only that gc (the start goes on), not the job.
      isActive: (id) => (active ??= torqueActiveJobs(c.TORQUE_HOME))(id),
    };
  } catch (err) {
    deps.log.warn({ err: reason(err), fault: faultOf(err) }, 'the job context cannot be made');
    dropCancelSignal(c, ctx.jobId, deps.log);
    return failed(ctx, deps, reason(err), faultOf(err), owner);
  }
  const outcome = await startJob(job, { config: c, layout: deps.layout, log: deps.log, say: deps.say });
  if (outcome.kind === 'running') {
    clearAttempts(c, ctx.jobId);
    deps.say(`vTorque: ${readySummary(outcome)}`);
    return PROLOGUE_EXIT.run;
  }
  return failed(ctx, deps, outcome.reason, outcome.fault, owner, job.allocation.length > 1 ? "on the job's nodes" : 'on this node');
}

/** The job will not get its VMs: say so in its output and leave the reason for its owner, or abort it. */
function ended(ctx: HookContext, deps: PrologueDeps, sentence: string, fault: Fault, owner: JobOwner | null): number {
  deps.say(`vTorque: ${sentence}. The job is aborted.`);
  if (owner === null) return PROLOGUE_EXIT.abort;
  return leaveOutcome(deps.config, ctx.jobId, owner, fault, sentence, deps.log) ? PROLOGUE_EXIT.run : PROLOGUE_EXIT.abort;
}

/** A node fault is requeued (Torque's loop has no backoff, so at most MAX_NODE_FAULTS times); anything else ends the job. */
function failed(ctx: HookContext, deps: PrologueDeps, why: string, fault: Fault, owner: JobOwner | null, where = 'on this node'): number {
  if (fault !== 'node') {
    clearAttempts(deps.config, ctx.jobId);
    return ended(ctx, deps, `the VM job cannot start: ${why}`, fault, owner);
  }
  const attempt = countAttempt(deps.config, ctx.jobId);
  if (attempt >= MAX_NODE_FAULTS) {
    clearAttempts(deps.config, ctx.jobId);
    return ended(ctx, deps, `the VMs failed to start ${where} ${attempt} times (last: ${why})`, 'node', owner);
  }
  deps.say(`vTorque: the VMs failed to start (attempt ${attempt} of ${MAX_NODE_FAULTS}): ${why}. This is a problem of the node, not of the job: Torque will requeue the job.`);
  return PROLOGUE_EXIT.requeue;
}

/** PBS variables known to the prologue, for the guest until the runner uploads the job's own. */
function pbsEnv(ctx: HookContext, env: NodeJS.ProcessEnv, np: number, nodeFile: string): Record<string, string> {
  const out: Record<string, string> = { PBS_JOBID: ctx.jobId, PBS_JOBNAME: ctx.jobName, PBS_QUEUE: ctx.queue, PBS_NODEFILE: nodeFile, PBS_VMNODEFILE: nodeFile, PBS_NP: String(np) };
  for (const k of ['PBS_O_WORKDIR', 'PBS_NUM_NODES', 'PBS_NUM_PPN', 'PBS_MSHOST'] as const) if (env[k]) out[k] = env[k] as string;
  return out;
}
