import { randomUUID } from 'node:crypto';
import type { SiteConfig } from '../../core/config/index.js';
import { decodeJobScript } from '../../core/contract/job-script.v1.js';
import { VtorqueError } from '../../core/errors.js';
import { readFileNoFollow } from '../../core/fs/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import { hostCapacity } from '../../core/node/capacity.js';
import { listPoolImages } from '../../core/pool/images.js';
import { applyPolicy, type VmRequest } from '../../core/request/index.js';
import {
  cancelRequested, componentStops, jobDirName, observeNode, openCancelSignal, ramdiskPath, reapOrphans, removeCancelSignal,
  readJobRecord, startComponents, startJobVms, stopJob, updateJobRecord, vmNodeFile, withDeadline, writeJobRecord, type EngineContext, type EngineLog, type JobRecordV1,
  type StopContext,
} from '../../engine/index.js';
import { NODE_FILE_DIR } from '../../core/contract/guest-layout.v1.js';
import { torqueActiveJobs } from './active-jobs.js';
import { cancelled, faultOf, reason, type Fault } from './classify.js';
import { isAcceptedName, type HookContext } from './context.js';
import { bootFilesFor, nodeEngine, poolImagePath } from './engine-context.js';
import { MAX_NODE_FAULTS, PROLOGUE_EXIT } from './exit-codes.js';
import { clearAttempts, countAttempt, writeJobState, writeOutcome } from './job-state.js';
import { readAllocation, type Allocation } from './nodes.js';
import { resolveOwner } from './owner.js';

type Owner = Awaited<ReturnType<typeof resolveOwner>>;

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
 * script, re-validate it against policy and the node allocation, record what teardown will need,
 * boot the VMs, leave the job state for the runner. Exit 0: the job runs (in its VMs, or, when it
 * cannot start — the job's fault, a cancel, the last node fault — only to tell its owner why);
 * 2: requeue (a node fault, at most MAX_NODE_FAULTS times); 1 only where no reason can be left.
 */
export async function runPrologue(ctx: HookContext, deps: PrologueDeps): Promise<number> {
  const { config: c, say } = deps;
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
  let engine: EngineContext | undefined;
  let record: JobRecordV1 | undefined;
  let owner: Owner | null = null;
  const cancel = new AbortController();
  let poll: NodeJS.Timeout | undefined;
  try {
    const who = await resolveOwner(ctx.user, ctx.group);
    owner = who; // for the failure path: the owner is told why
    const request = applyPolicy(decoded.request, c, listPoolImages(c.VM_IMG_DIR).map((i) => i.name), ctx.scriptPath).request;
    const alloc = readAllocation(deps.env.PBS_NODEFILE, ctx.resources);
    checkAllocation(request, alloc, c);

    // The first things made: the owner's cancel directory, then root's record of the job, which
    // is all the epilogue, a cancel and gc will act on (the .SC is the owner's from now on).
    openCancelSignal(c, ctx.jobId, who);
    if (cancelRequested(c, ctx.jobId)) throw cancelled('the job was cancelled before its VMs started');
    const component = { jobId: ctx.jobId, user: who.user, node: alloc.localName, request };
    record = { version: 1, jobId: ctx.jobId, owner: { user: who.user, uid: who.uid }, node: alloc.localName, keepLogs: request.debug, componentStops: componentStops(c, component), vms: [], ramdisk: null, qemuUid: null, createdMs: Date.now() };
    writeJobRecord(c, record);
    poll = setInterval(() => {
      if (cancelRequested(c, ctx.jobId)) cancel.abort(cancelled('the job was cancelled while its VMs were booting'));
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
    await startComponents(config, component, deps.log);
    const baseImage = poolImagePath(config, request.img);
    const guestNodeFile = `${NODE_FILE_DIR}/${jobDirName(ctx.jobId)}`;
    const started = await startJobVms(
      {
        job: { jobId: ctx.jobId, owner: who },
        request,
        // Observed under the node lock, after the jobs starting before this one defined their VMs.
        nodes: async () => [await observeNode(alloc.localName, hostCapacity(), opened.libvirt)],
        baseImage,
        boot: bootFilesFor(config, baseImage, deps.log),
        guestEnv: guestEnv(ctx, deps.env, request.vcpus * request.vms_per_node, guestNodeFile),
        uuid: randomUUID,
        signal: cancel.signal,
        onPlanned: (plan) => {
          record = updateJobRecord(c, record as JobRecordV1, { vms: plan.vms.map((v) => v.name), qemuUid: plan.qemuUid, ramdisk: request.fs_type === 'ramdisk' ? ramdiskPath(c, ctx.jobId) : null });
        },
      },
      engine,
    );
    writeJobState(config, { jobId: ctx.jobId, owner: who }, request, decoded.script, started.vms, vmNodeFile(started.vms), started.timeline);
    const phases = started.timeline.map((m) => `${m.phase} ${((m.endMs - m.startMs) / 1000).toFixed(1)}s`).join(', ');
    clearAttempts(c, ctx.jobId);
    say(`vTorque: ${started.vms.length} VM(s) ready in ${((started.timeline.at(-1)?.endMs ?? 0) / 1000).toFixed(1)} s (${phases}); the job starts in ${started.vms[0]?.name}`);
    return PROLOGUE_EXIT.run;
  } catch (err) {
    const fault: Fault = record !== undefined && cancelRequested(c, ctx.jobId) ? 'cancel' : faultOf(err);
    if (record) await undoStart(engine ?? { config: c, log: deps.log }, record, deps);
    else dropCancelSignal(c, ctx.jobId, deps.log); // the front may have made it; nothing else exists yet
    return failed(ctx, deps, err, fault, owner);
  } finally {
    if (poll) clearInterval(poll);
    await engine?.libvirt.close().catch(() => undefined);
  }
}

/**
 * The VMs and components this job must fit in: the cores and the memory Torque allocated to it on
 * this node (a request forged with plain qsub skips vsub's honest raise; refused here, the job's fault).
 */
function checkAllocation(request: VmRequest, alloc: Allocation, c: SiteConfig): void {
  if (alloc.nodes.length > 1) {
    throw new VtorqueError('NOT_SUPPORTED', `multi-node VM jobs are not supported yet (nodes: ${alloc.nodes.join(', ')})`, { fault: 'job' });
  }
  const cores = request.vcpus * request.vms_per_node + c.HOST_OS_CORE_COUNT + (request.iocm ? request.iocm_max_cores : 0);
  if (alloc.localSlots < cores) {
    throw new VtorqueError('CAPACITY', `Torque gave this job ${alloc.localSlots} core(s) on ${alloc.localName}, its VMs need ${cores} (${request.vms_per_node} x ${request.vcpus} vCPUs + ${c.HOST_OS_CORE_COUNT} for the host): submit it with vsub, which asks for them`, { fault: 'job' });
  }
  const mib = request.ram * request.vms_per_node + c.HOST_OS_RAM_MB;
  if (alloc.memory === null) {
    throw new VtorqueError('CAPACITY', `the job asked Torque for no memory (no mem, pmem or vmem), its VMs need ${mib} MiB on ${alloc.localName}: submit it with vsub, which asks for it`, { fault: 'job' });
  }
  if (alloc.memory.mib < mib) {
    throw new VtorqueError('CAPACITY', `Torque gave this job ${alloc.memory.mib} MiB on ${alloc.localName} (${alloc.memory.basis}), its VMs need ${mib} MiB (${request.vms_per_node} x ${request.ram} MiB + ${c.HOST_OS_RAM_MB} MiB for the host): submit it with vsub, which asks for it`, { fault: 'job' });
  }
}

/**
 * A start that failed undoes what it made (startJobVms already removed its VMs): components,
 * the cancel directory, the record. What cannot be undone stays recorded for the epilogue.
 */
async function undoStart(ctx: StopContext, record: JobRecordV1, deps: PrologueDeps): Promise<void> {
  try {
    const stopped = await stopJob(ctx, record.jobId, record);
    if (stopped.problems.length > 0) deps.log.warn({ problems: stopped.problems }, 'undoing the failed start left work for the epilogue');
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'undoing the failed start failed; the epilogue goes on from the record');
  }
}

/**
 * The job will not get its VMs. Under real Torque a prologue that exits 1 delivers nothing to the
 * user (no .o, no mail: measured, doc/admin.md), so the start leaves the reason in the job's
 * state dir with a record that names no VM, and lets the job run: the job wrapper (the runner,
 * as the owner) prints the reason and ends with the outcome's exit code, and the epilogue
 * removes both without libvirt. Where even that cannot be written (no owner), the job is aborted.
 */
function ended(ctx: HookContext, deps: PrologueDeps, sentence: string, fault: Fault, owner: Owner | null): number {
  const c = deps.config;
  deps.say(`vTorque: ${sentence}. The job is aborted.`);
  if (owner === null) return PROLOGUE_EXIT.abort;
  try {
    // A record the undo could not finish stays as it is (the epilogue needs what it names).
    if (readJobRecord(c, ctx.jobId) === null) {
      writeJobRecord(c, { version: 1, jobId: ctx.jobId, owner: { user: owner.user, uid: owner.uid }, node: '', keepLogs: false, componentStops: [], vms: [], ramdisk: null, qemuUid: null, createdMs: Date.now() });
    }
    writeOutcome(c, { jobId: ctx.jobId, owner }, fault, `${sentence}.`);
    return PROLOGUE_EXIT.run;
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'cannot leave the outcome for the job; aborting it (its reason stays in the node\'s spool)');
    return PROLOGUE_EXIT.abort;
  }
}

function dropCancelSignal(c: SiteConfig, jobId: string, log: EngineLog): void {
  try {
    removeCancelSignal(c, jobId);
  } catch (err) {
    log.warn({ err: reason(err) }, 'removing the cancel directory failed; gc will');
  }
}

function failed(ctx: HookContext, deps: PrologueDeps, err: unknown, fault: Fault, owner: Owner | null): number {
  deps.log.warn({ err: reason(err), fault }, 'prologue failed');
  if (fault !== 'node') {
    clearAttempts(deps.config, ctx.jobId);
    return ended(ctx, deps, `the VM job cannot start: ${reason(err)}`, fault, owner);
  }
  const attempt = countAttempt(deps.config, ctx.jobId);
  if (attempt >= MAX_NODE_FAULTS) {
    clearAttempts(deps.config, ctx.jobId);
    return ended(ctx, deps, `the VMs failed to start on this node ${attempt} times (last: ${reason(err)})`, 'node', owner);
  }
  deps.say(`vTorque: the VMs failed to start (attempt ${attempt} of ${MAX_NODE_FAULTS}): ${reason(err)}. This is a problem of the node, not of the job: Torque will requeue the job.`);
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
