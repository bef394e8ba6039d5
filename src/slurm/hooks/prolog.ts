import type { SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { decodeJobScript } from '../../core/contract/job-script.v1.js';
import type { AppLayout } from '../../core/install/paths.js';
import {
  faultOf, leaveOutcome, readySummary, reason, resolveOwner, startJob, type EngineLog, type Fault, type JobContext, type JobOwner,
} from '../../lifecycle/index.js';
import { slurmAllocation } from './allocation.js';
import type { SlurmHookContext } from './context.js';
import { MAX_NODE_FAULTS, SLURM_HOOK_EXIT } from './exit-codes.js';
import { adminCommentProgress } from './progress-note.js';
import type { SlurmClient } from './slurm-client.js';
import { STARTING_JOB_STATES } from '../job-states.js';
import { hookLimits, type HookLimits } from './limits.js';

export interface PrologDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly log: EngineLog;
  /** Progress; slurmd keeps a Prolog's output only when it fails, so this goes to the node's log. */
  readonly say: (line: string) => void;
  readonly slurm: SlurmClient;
  /** How often the controller is asked whether the job is still wanted while its VMs boot. */
  readonly cancelPollMs?: number;
}

/**
 * slurmd's Prolog for a job vsbatch marked (PrologFlags=Alloc: on every node of the allocation,
 * before the batch script). On the batch host it reads the request from the controller's copy of
 * the script, makes the job context from what slurmd and slurmctld say (owner by uid, nodes, CPUs
 * and memory per node, PrologEpilogTimeout) and lets the lifecycle start the VMs on every node
 * of the job; the other nodes' Prologs return at once (the batch host reaches them through their
 * node agents). Exit 0 whatever the job's fate — a failing Prolog drains the node — with the
 * reason left for the job's wrapper to fail the job with; a node fault is requeued through the
 * controller at most MAX_NODE_FAULTS - 1 times.
 */
export async function runSlurmProlog(ctx: SlurmHookContext, deps: PrologDeps): Promise<number> {
  const { config: c, slurm } = deps;
  const { job: info, active } = await slurm.queue(ctx.jobId);
  if (info === null) {
    deps.log.info({}, 'the controller no longer knows the job: nothing to start');
    return SLURM_HOOK_EXIT.ok;
  }
  if (info.batchHost !== ctx.node) return SLURM_HOOK_EXIT.ok; // a node of the job that is not its head
  const limits = await hookLimits(c, slurm, deps.log);
  const deadlineAt = Date.now() + limits.startSeconds * 1000;
  const source = `the controller's copy of job ${ctx.jobId}'s script`;
  const fallbackOwner = ctx.uid > 0 ? { user: ctx.userProblem === null ? ctx.user : `uid ${ctx.uid}`, uid: ctx.uid, gid: ctx.gid, home: '' } : null;
  if (ctx.userProblem !== null) return ended(ctx, deps, `the VM job cannot start: ${ctx.userProblem}`, 'job', fallbackOwner);
  let decoded;
  try {
    decoded = decodeJobScript(await slurm.batchScript(ctx.jobId), source);
  } catch (err) {
    return ended(ctx, deps, `the VM job cannot start: ${reason(err)}`, faultOf(err) === 'node' ? 'node' : 'job', fallbackOwner);
  }
  // A comment that says VM job on a plain job: nothing of ours to do.
  if (!decoded) return SLURM_HOOK_EXIT.ok;
  let owner: JobOwner | null = null;
  let job: JobContext;
  try {
    owner = await resolveOwner(ctx.user, '');
    if (owner.uid !== ctx.uid) {
      throw new VtorqueError('REQUEST_INVALID', `job owner ${ctx.user} is uid ${owner.uid} on this node, slurmd says uid ${ctx.uid}`, { fault: 'node' });
    }
    const nodes = await slurm.hostnames(ctx.nodeList);
    const allocation = slurmAllocation(nodes, ctx.cpusPerNode, info);
    const nodeFileEnv = (nodeFile: string): Record<string, string> => ({ SLURM_HOSTFILE: nodeFile, VTORQUE_NODEFILE: nodeFile });
    job = {
      jobId: ctx.jobId,
      owner,
      request: decoded.request,
      requestSource: source,
      script: decoded.script,
      allocation,
      deadlineAt,
      scheduler: { name: 'Slurm', submit: 'vsbatch' },
      guestEnv: (guest) => ({ SLURM_JOB_ID: ctx.jobId, SLURM_JOBID: ctx.jobId, SLURM_JOB_USER: ctx.user, SLURM_JOB_PARTITION: ctx.partition, SLURM_CLUSTER_NAME: ctx.cluster, ...nodeFileEnv(guest.nodeFile) }),
      // The controller's job list: a job it no longer has, or has ended, may be reaped here.
      isActive: (id) => id === ctx.jobId || active.has(id),
      cancelProbe: async () => {
        const state = await slurm.state(ctx.jobId);
        return state === null || !STARTING_JOB_STATES.has(state);
      },
      ...(deps.cancelPollMs === undefined ? {} : { cancelPollMs: deps.cancelPollMs }),
    };
  } catch (err) {
    deps.log.warn({ err: reason(err), fault: faultOf(err) }, 'the job context cannot be made');
    return failed(ctx, deps, reason(err), faultOf(err), owner ?? fallbackOwner, limits);
  }
  // While it boots, `scontrol show job` shows the owner how far it got (AdminComment).
  const note = adminCommentProgress(slurm, ctx.jobId);
  const outcome = await startJob(job, { config: c, layout: deps.layout, log: deps.log, say: (line) => { deps.say(line); note.line(line); } });
  if (outcome.kind === 'running') {
    deps.say(readySummary(outcome));
    await note.flush(readySummary(outcome));
    return SLURM_HOOK_EXIT.ok;
  }
  await note.flush(`the VMs did not start: ${outcome.reason}`.slice(0, 400));
  return failed(ctx, deps, outcome.reason, outcome.fault, owner, limits, job.allocation.length > 1 ? "on the job's nodes" : `on ${ctx.node}`);
}

/**
 * After a requeue the job waits this long past cred_expire: slurmd skips the Prolog of a job id it
 * ran an Epilog for less than cred_expire ago (measured: "reissued job credential", the batch
 * script started without VMs), and Slurm's own hold-back is cred_expire from the requeue, before
 * that Epilog.
 */
const REQUEUE_EXTRA_SECONDS = 10;

/** The job will not get its VMs: leave the reason for its wrapper, which fails the job with it. */
function ended(ctx: SlurmHookContext, deps: PrologDeps, sentence: string, fault: Fault, owner: { user: string; uid: number; gid: number } | null): number {
  deps.say(`${sentence}. The job fails.`);
  // Without the reason on record the job would run without VMs: the node cannot keep its own spool, so it is drained.
  if (owner === null) return SLURM_HOOK_EXIT.drain;
  return leaveOutcome(deps.config, ctx.jobId, owner, fault, sentence, deps.log) ? SLURM_HOOK_EXIT.ok : SLURM_HOOK_EXIT.drain;
}

/** A node fault is requeued through the controller (bounded by Slurm's restart count); anything else fails the job. */
async function failed(ctx: SlurmHookContext, deps: PrologDeps, why: string, fault: Fault, owner: { user: string; uid: number; gid: number } | null, limits: HookLimits, where = `on ${ctx.node}`): Promise<number> {
  if (fault !== 'node') return ended(ctx, deps, `the VM job cannot start: ${why}`, fault, owner);
  const attempt = ctx.restartCount + 1;
  if (attempt >= MAX_NODE_FAULTS) return ended(ctx, deps, `the VMs failed to start ${where} ${attempt} times (last: ${why})`, 'node', owner);
  const line = `the VMs failed to start (attempt ${attempt} of ${MAX_NODE_FAULTS}): ${why}. This is a problem of the node, not of the job: the job is requeued`;
  try {
    await deps.slurm.requeue(ctx.jobId);
  } catch (err) {
    return ended(ctx, deps, `the VMs failed to start ${where} (${why}) and the job could not be requeued (${reason(err)})`, 'node', owner);
  }
  await deps.slurm.holdBack(ctx.jobId, limits.credExpireSeconds + REQUEUE_EXTRA_SECONDS).catch((err: unknown) => deps.log.warn({ err: reason(err) }, 'cannot hold the requeued job back past cred_expire'));
  deps.say(line);
  await deps.slurm.note(ctx.jobId, `vTorque: ${line}`);
  return SLURM_HOOK_EXIT.ok;
}
