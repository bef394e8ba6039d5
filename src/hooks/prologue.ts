import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../core/config/schema.js';
import { decodeJobScript } from '../core/contract/job-script.v1.js';
import { VtorqueError } from '../core/errors.js';
import { mkdirPrivate, readFileNoFollow } from '../core/fs/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { hostCapacity } from '../core/node/capacity.js';
import { listPoolImages } from '../core/pool/images.js';
import { applyPolicy } from '../core/request/index.js';
import { jobDirName, observeNode, reapOrphans, startComponents, startJobVms, stopComponents, stopJobVms, type EngineContext, type EngineLog } from '../engine/index.js';
import { vmNodeFile } from '../engine/guest-files.js';
import { NODE_FILE_DIR } from '../guest/index.js';
import { withDeadline } from '../engine/libvirt/index.js';
import { torqueActiveJobs } from './active-jobs.js';
import { isRequestError, reason } from './classify.js';
import type { HookContext } from './context.js';
import { bootFilesFor, nodeEngine, poolImagePath } from './engine-context.js';
import { MAX_NODE_FAULTS, PROLOGUE_EXIT } from './exit-codes.js';
import { cancelRequested, clearAttempts, countAttempt, writeJobState } from './job-state.js';
import { readAllocation } from './nodes.js';
import { resolveOwner } from './owner.js';

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

/**
 * The mother superior prologue for a VM job: read the request from Torque's copy of the job
 * script, re-validate it against policy and the node allocation, boot the VMs, leave the job state
 * for the runner. Exit 0 run / 1 abort (request, policy, cancel, repeated node faults) / 2 requeue.
 */
export async function runPrologue(ctx: HookContext, deps: PrologueDeps): Promise<number> {
  const { config: c, say } = deps;
  let decoded;
  try {
    decoded = decodeJobScript(readFileNoFollow(ctx.scriptPath, 64 << 20), ctx.scriptPath);
  } catch (err) {
    // A malformed or forged request: the user's to fix, so say it in the job's output and abort.
    deps.say(`vTorque: the VM job cannot start: ${reason(err)}. The job is aborted.`);
    return PROLOGUE_EXIT.abort;
  }
  if (!decoded) return ctx.origRc; // the front saw the marker, the file no longer has it: plain job
  let engine: EngineContext | undefined;
  let owner: Awaited<ReturnType<typeof resolveOwner>> | undefined;
  const cancel = new AbortController();
  let poll: NodeJS.Timeout | undefined;
  try {
    // Where epilogue.precancel, running as the job owner, may drop its cancel marker (sticky, like /tmp).
    mkdirPrivate(join(c.SPOOL_DIR, 'cancel'), 0o1733);
    owner = await resolveOwner(ctx.user, ctx.group);
    const request = applyPolicy(decoded.request, c, listPoolImages(c.VM_IMG_DIR).map((i) => i.name), ctx.scriptPath).request;
    const alloc = readAllocation(deps.env.PBS_NODEFILE);
    if (alloc && alloc.nodes.length > 1) {
      throw new VtorqueError('NOT_SUPPORTED', `multi-node VM jobs are not supported yet (nodes: ${alloc.nodes.join(', ')})`);
    }
    const need = request.vcpus * request.vms_per_node + c.HOST_OS_CORE_COUNT + (request.iocm ? request.iocm_max_cores : 0);
    if (alloc && alloc.localSlots < need) {
      throw new VtorqueError('CAPACITY', `Torque gave this job ${alloc.localSlots} core(s) on ${alloc.localName}, its VMs need ${need} (${request.vms_per_node} x ${request.vcpus} vCPUs + ${c.HOST_OS_CORE_COUNT} for the host): submit it with vsub, which asks for them`);
    }
    if (cancelRequested(c, ctx.jobId, owner.uid)) throw new VtorqueError('NOT_SUPPORTED', 'the job was cancelled before its VMs started');
    poll = setInterval(() => {
      if (owner && cancelRequested(c, ctx.jobId, owner.uid)) cancel.abort(new VtorqueError('NOT_SUPPORTED', 'the job was cancelled while its VMs were booting'));
    }, 1000);

    // Torque kills the prologue at its alarm: finish (or fail and tear down) well before that.
    const deadline = Math.min(c.PROLOGUE_TIMEOUT, deps.alarmSeconds - 15);
    const began = performance.now();
    const opened = await nodeEngine(c, deps.layout, deps.log, say);
    engine = opened;
    await reapFinishedJobs(opened, c, deps, Math.min(30, Math.floor(deadline / 4)));
    const left = Math.max(10, deadline - Math.ceil((performance.now() - began) / 1000));
    const config: SiteConfig = { ...c, PROLOGUE_TIMEOUT: left, TIMEOUT: Math.min(c.TIMEOUT, left) };
    engine = { ...opened, config };
    const component = { jobId: ctx.jobId, user: owner.user, node: alloc?.localName ?? '', request };
    await startComponents(config, component, deps.log);
    const baseImage = poolImagePath(config, request.img);
    const guestNodeFile = `${NODE_FILE_DIR}/${jobDirName(ctx.jobId)}`;
    let started;
    try {
      started = await startJobVms(
        {
          job: { jobId: ctx.jobId, owner },
          request,
          // Observed under the node lock, after the jobs starting before this one defined their VMs.
          nodes: async () => [await observeNode(alloc?.localName ?? '', hostCapacity(), opened.libvirt)],
          baseImage,
          boot: bootFilesFor(baseImage, existsSync),
          guestEnv: guestEnv(ctx, deps.env, request.vcpus * request.vms_per_node, guestNodeFile),
          uuid: randomUUID,
          signal: cancel.signal,
        },
        engine,
      );
    } catch (err) {
      await stopComponents(config, component, deps.log);
      throw err;
    }
    try {
      writeJobState(config, { jobId: ctx.jobId, owner }, request, decoded.script, started.vms, vmNodeFile(started.vms), started.timeline);
    } catch (err) {
      await stopJobVms(ctx.jobId, engine, { keepLogs: request.debug }).catch(() => undefined);
      await stopComponents(config, component, deps.log);
      throw err;
    }
    const phases = started.timeline.map((m) => `${m.phase} ${((m.endMs - m.startMs) / 1000).toFixed(1)}s`).join(', ');
    clearAttempts(c, ctx.jobId);
    say(`vTorque: ${started.vms.length} VM(s) ready in ${((started.timeline.at(-1)?.endMs ?? 0) / 1000).toFixed(1)} s (${phases}); the job starts in ${started.vms[0]?.name}`);
    return PROLOGUE_EXIT.run;
  } catch (err) {
    return failed(ctx, deps, err, owner !== undefined && cancelRequested(c, ctx.jobId, owner.uid));
  } finally {
    if (poll) clearInterval(poll);
    await engine?.libvirt.close().catch(() => undefined);
  }
}

function failed(ctx: HookContext, deps: PrologueDeps, err: unknown, cancelled: boolean): number {
  deps.log.warn({ err: reason(err) }, 'prologue failed');
  if (cancelled || isRequestError(err)) {
    clearAttempts(deps.config, ctx.jobId);
    deps.say(`vTorque: the VM job cannot start: ${reason(err)}. The job is aborted.`);
    return PROLOGUE_EXIT.abort;
  }
  const attempt = countAttempt(deps.config, ctx.jobId);
  if (attempt >= MAX_NODE_FAULTS) {
    clearAttempts(deps.config, ctx.jobId);
    deps.say(`vTorque: the VMs failed to start on this node ${attempt} times (last: ${reason(err)}). The job is aborted instead of requeued again.`);
    return PROLOGUE_EXIT.abort;
  }
  deps.say(`vTorque: the VMs failed to start (attempt ${attempt} of ${MAX_NODE_FAULTS}): ${reason(err)}. Torque will requeue the job.`);
  return PROLOGUE_EXIT.requeue;
}

/**
 * A node that crashed (or lost a job) before an epilogue left VMs and files of finished jobs:
 * reap them first, bounded and best effort; they would hold the CPUs and memory this job needs.
 */
async function reapFinishedJobs(engine: EngineContext, c: SiteConfig, deps: PrologueDeps, seconds: number): Promise<void> {
  try {
    const reaped = await withDeadline(reapOrphans(engine, { isActive: torqueActiveJobs(c.TORQUE_HOME) }), Math.max(5, seconds) * 1000, 'gc of finished jobs');
    const done = reaped.jobs.filter((j) => j.error === null);
    if (done.length > 0) deps.say(`vTorque: reaped the leftovers of ${done.length} finished job(s) on this node first`);
  } catch (err) {
    deps.log.warn({ phase: 'gc', err: reason(err) }, 'gc before the start failed; going on');
  }
}

/** PBS variables known to the prologue, for the guest until the runner uploads the job's own. */
function guestEnv(ctx: HookContext, env: NodeJS.ProcessEnv, np: number, nodeFile: string): Record<string, string> {
  const out: Record<string, string> = { PBS_JOBID: ctx.jobId, PBS_JOBNAME: ctx.jobName, PBS_QUEUE: ctx.queue, PBS_NODEFILE: nodeFile, PBS_VMNODEFILE: nodeFile, PBS_NP: String(np) };
  for (const k of ['PBS_O_WORKDIR', 'PBS_NUM_NODES', 'PBS_NUM_PPN', 'PBS_MSHOST'] as const) if (env[k]) out[k] = env[k] as string;
  return out;
}
