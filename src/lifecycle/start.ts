import { randomUUID } from 'node:crypto';
import type { SiteConfig } from '../core/config/index.js';
import { NODE_FILE_DIR } from '../core/contract/guest-layout.v1.js';
import { vmLayoutEnv } from '../core/contract/vm-layout.js';
import { VtorqueError } from '../core/errors.js';
import type { AppLayout } from '../core/install/paths.js';
import { listPoolImages, poolImagePath } from '../core/pool/images.js';
import { applyPolicy, type VmRequest } from '../core/request/index.js';
import {
  bootFilesFor, cancelRequested, componentStops, jobDirName, nodeEngine, openCancelSignal, ramdiskPath, reapOrphans, removeCancelSignal,
  startComponents, startOnNodes, localNode, stopJob, updateJobRecord, vmNodeFile, withDeadline, writeJobRecord, type EngineContext, type EngineLog, type JobRecordV1, type ReapResult, type RemoteNode, type StartRecord, type StopContext,
} from '../engine/index.js';
import { cancelled, faultOf, reason, type Fault } from './classify.js';
import type { JobContext, NodeAllocation, StartOutcome } from './job-context.js';
import { writeJobState } from './job-state.js';
import { recordMetrics } from './metrics.js';
import { recordStartAttempt, startAttempt } from './status.js';
import { agentConnector, closeAll, connectSisters, stopOnSisters, type ConnectNode } from './sisters.js';

export interface LifecycleDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly log: EngineLog;
  /** Lines for the job's own output (progress: phase, VM, elapsed). */
  readonly say: (line: string) => void;
  /** How the job's other nodes are reached (default: their node agents by NODE_AGENT_COMMAND). */
  readonly connect?: ConnectNode;
}

/** Least time a start is given however late it began: enough to fail and tear down cleanly. */
const MIN_START_SECONDS = 10;

/**
 * Start a VM job on its nodes: re-validate the request against policy and the allocation, record
 * what teardown will need, boot the VMs by `job.deadlineAt`, leave the job state for the runner.
 * Never throws for the job's, the node's or a cancel's reasons: a failed start is undone and
 * returned as an outcome the scheduler adapter maps to its own exit codes (and added to this
 * node's metrics, METRICS_FILE).
 */
export async function startJob(job: JobContext, deps: LifecycleDeps): Promise<StartOutcome> {
  const reaped: ReapResult[] = [];
  const record: StartRecord = { marks: [], vms: new Map() };
  const startedAt = Date.now();
  const outcome = await startJobHere(job, deps, reaped, record);
  recordStartAttempt(deps.config, { jobId: job.jobId, owner: job.owner, scheduler: job.scheduler.name }, startAttempt(startedAt, job.allocation.map((n) => n.name), outcome, record), deps.log);
  await recordMetrics(deps.config, deps.log, { kind: 'start', scheduler: job.scheduler.name, outcome, reaped }, { deadlineAt: job.deadlineAt });
  return outcome;
}

async function startJobHere(job: JobContext, deps: LifecycleDeps, reaped: ReapResult[], startRecord: StartRecord): Promise<StartOutcome> {
  const { config: c, say } = deps;
  let engine: EngineContext | undefined;
  let record: JobRecordV1 | undefined;
  let sisters: RemoteNode[] = [];
  const connect = deps.connect ?? agentConnector(c, deps.layout, deps.log);
  const cancel = new AbortController();
  let poll: NodeJS.Timeout | undefined;
  let stopProbe = (): void => undefined;
  try {
    const request = applyPolicy(job.request, c, listPoolImages(c.VM_IMG_DIR).map((i) => i.name), job.requestSource).request;
    const here = checkAllocation(request, job, c);

    // The first things made: the owner's cancel directory, then root's record of the job, which
    // is all the stop, a cancel and gc will act on (the request is the owner's from now on).
    openCancelSignal(c, job.jobId, job.owner);
    if (cancelRequested(c, job.jobId)) throw cancelled('the job was cancelled before its VMs started');
    const component = { jobId: job.jobId, user: job.owner.user, node: here.name, request };
    const sisterNames = job.allocation.slice(1).map((n) => n.name);
    record = { version: 1, jobId: job.jobId, owner: { user: job.owner.user, uid: job.owner.uid }, node: here.name, ...(sisterNames.length > 0 ? { sisters: sisterNames } : {}), keepLogs: request.debug, componentStops: componentStops(c, component), vms: [], ramdisk: null, qemuUid: null, createdMs: Date.now() };
    writeJobRecord(c, record);
    poll = setInterval(() => {
      if (cancelRequested(c, job.jobId)) cancel.abort(cancelled('the job was cancelled while its VMs were booting'));
    }, 1000);
    if (job.cancelProbe) stopProbe = probeCancel(job.cancelProbe, job.cancelPollMs ?? CANCEL_PROBE_MS, cancel, deps.log);

    const opened = await nodeEngine(c, deps.layout, deps.log, say);
    engine = opened;
    const secondsLeft = (): number => Math.floor((job.deadlineAt - Date.now()) / 1000);
    await reapFinishedJobs(opened, job, deps, Math.min(30, Math.floor(secondsLeft() / 4)), reaped);
    await startComponents(c, component, deps.log);
    // The other nodes of the job, through their node agents: all reached, or the start fails naming them.
    if (sisterNames.length > 0) {
      say(`reaching the job's other node(s): ${sisterNames.join(', ')}`);
      sisters = await connectSisters(sisterNames, connect);
    }
    const baseImage = poolImagePath(c.VM_IMG_DIR, request.img);
    const guestNodeFile = `${NODE_FILE_DIR}/${jobDirName(job.jobId)}`;
    // Rank order is allocation order, vms_per_node on each node (the plan's).
    const hosts = job.allocation.map((n) => ({ name: n.name, vms: request.vms_per_node }));
    const guestEnv = { ...job.guestEnv({ nodeFile: guestNodeFile, slots: request.vcpus * request.vms_per_node * job.allocation.length, hosts }), ...vmLayoutEnv(hosts) };
    // The head drives this host through NodeAccess, as it drives the job's other nodes through their agents.
    const started = await startOnNodes(
      {
        job: { jobId: job.jobId, owner: job.owner },
        request,
        baseImage,
        boot: bootFilesFor(c, baseImage, deps.log),
        guestEnv,
        uuid: randomUUID,
        deadlineAt: Math.max(job.deadlineAt, Date.now() + MIN_START_SECONDS * 1000),
        signal: cancel.signal,
        record: startRecord,
        onPlanned: (plan) => {
          record = updateJobRecord(c, record as JobRecordV1, { vms: plan.vms.map((v) => v.name), qemuUid: plan.qemuUid, ramdisk: request.fs_type === 'ramdisk' ? ramdiskPath(c, job.jobId) : null });
        },
      },
      // Observed under the node lock, after the jobs starting before this one defined their VMs.
      [localNode(opened, { name: here.name }), ...sisters],
      { config: c, log: deps.log, progress: say },
    );
    writeJobState(c, { jobId: job.jobId, owner: job.owner }, request, job.script, started.vms, vmNodeFile(started.vms), started.timeline);
    return { kind: 'running', vms: started.vms, timeline: started.timeline };
  } catch (err) {
    const fault: Fault = record !== undefined && cancelRequested(c, job.jobId) ? 'cancel' : faultOf(err);
    deps.log.warn({ err: reason(err), fault }, 'start failed');
    if (record) await undoStart(engine ?? { config: c, log: deps.log }, record, deps.log, connect);
    else dropCancelSignal(c, job.jobId, deps.log); // the adapter's front may have made it; nothing else exists yet
    return { kind: 'failed', fault, reason: reason(err) };
  } finally {
    await closeAll(sisters);
    if (poll) clearInterval(poll);
    stopProbe();
    await engine?.libvirt.close().catch(() => undefined);
  }
}

/** How often a scheduler's cancel probe is asked (each answer awaited before the next). */
const CANCEL_PROBE_MS = 2000;

/**
 * Ask the adapter's probe, one call at a time, until it says the job is no longer wanted (then
 * abort the start) or the start ends. A probe that fails is only logged: the scheduler still
 * ends a job it cancelled, and the stop tears down what the start made.
 */
function probeCancel(probe: () => Promise<boolean>, everyMs: number, cancel: AbortController, log: EngineLog): () => void {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const tick = (): void => {
    timer = setTimeout(() => {
      probe().then(
        (gone) => {
          if (gone) cancel.abort(cancelled('the job was cancelled while its VMs were booting'));
          else if (!done) tick();
        },
        (err: unknown) => {
          log.warn({ err: reason(err) }, "the scheduler's cancel probe failed");
          if (!done) tick();
        },
      );
    }, everyMs);
  };
  tick();
  return () => {
    done = true;
    if (timer) clearTimeout(timer);
  };
}

/** One line for the job's output once its VMs are up: how long each phase took, where the job runs. */
export function readySummary(outcome: Extract<StartOutcome, { kind: 'running' }>): string {
  const phases = outcome.timeline.map((m) => `${m.phase} ${((m.endMs - m.startMs) / 1000).toFixed(1)}s`).join(', ');
  return `${outcome.vms.length} VM(s) ready in ${((outcome.timeline.at(-1)?.endMs ?? 0) / 1000).toFixed(1)} s (${phases}); the job starts in ${outcome.vms[0]?.name}`;
}

/**
 * The VMs and components this job must fit in: on every node, the cores and the memory the
 * scheduler allocated to it there (a request forged past the submit wrapper skips its honest
 * raise; refused here, the job's fault). Returns this node's allocation.
 */
function checkAllocation(request: VmRequest, job: JobContext, c: SiteConfig): NodeAllocation {
  const here = job.allocation[0];
  if (here === undefined) throw new VtorqueError('USAGE', `${job.scheduler.name} allocated no node to the job`, { fault: 'node' });
  const names = new Set<string>();
  for (const node of job.allocation) {
    if (names.has(node.name)) throw new VtorqueError('USAGE', `${job.scheduler.name} listed node ${node.name} twice in the job's allocation`, { fault: 'node' });
    names.add(node.name);
    checkNodeShare(request, job, c, node);
  }
  return here;
}

function checkNodeShare(request: VmRequest, job: JobContext, c: SiteConfig, here: NodeAllocation): void {
  const { name: sched, submit } = job.scheduler;
  const cores = request.vcpus * request.vms_per_node + c.HOST_OS_CORE_COUNT + (request.iocm ? request.iocm_max_cores : 0);
  if (here.slots < cores) {
    throw new VtorqueError('CAPACITY', `${sched} gave this job ${here.slots} core(s) on ${here.name}, its VMs need ${cores} (${request.vms_per_node} x ${request.vcpus} vCPUs + ${c.HOST_OS_CORE_COUNT} for the host): submit it with ${submit}, which asks for them`, { fault: 'job' });
  }
  const mib = request.ram * request.vms_per_node + c.HOST_OS_RAM_MB;
  if (here.memory === null) {
    throw new VtorqueError('CAPACITY', `the job asked ${sched} for no memory (no mem, pmem or vmem), its VMs need ${mib} MiB on ${here.name}: submit it with ${submit}, which asks for it`, { fault: 'job' });
  }
  if (here.memory.mib < mib) {
    throw new VtorqueError('CAPACITY', `${sched} gave this job ${here.memory.mib} MiB on ${here.name} (${here.memory.basis}), its VMs need ${mib} MiB (${request.vms_per_node} x ${request.ram} MiB + ${c.HOST_OS_RAM_MB} MiB for the host): submit it with ${submit}, which asks for it`, { fault: 'job' });
  }
}

/**
 * A start that failed undoes what it made (the head already removed its VMs on every node): components,
 * the cancel directory, the record. What cannot be undone stays recorded for the stop.
 */
async function undoStart(ctx: StopContext, record: JobRecordV1, log: EngineLog, connect: ConnectNode): Promise<void> {
  // Nothing is made on another node before the plan (which names the VMs in the record).
  const sisterProblems = record.sisters?.length && record.vms.length > 0 ? (await stopOnSisters(record.jobId, record.sisters, record.keepLogs, connect)).problems : [];
  if (sisterProblems.length > 0) log.warn({ problems: sisterProblems }, "undoing the failed start left VMs on other nodes; their gc reaps them");
  try {
    const stopped = await stopJob(ctx, record.jobId, record);
    if (stopped.problems.length > 0) log.warn({ problems: stopped.problems }, 'undoing the failed start left work for the stop');
  } catch (err) {
    log.warn({ err: reason(err) }, 'undoing the failed start failed; the stop goes on from the record');
  }
}

/** The owner's cancel directory of a job that will not start (best effort: gc removes what is left). */
export function dropCancelSignal(c: SiteConfig, jobId: string, log: EngineLog): void {
  try {
    removeCancelSignal(c, jobId);
  } catch (err) {
    log.warn({ err: reason(err) }, 'removing the cancel directory failed; gc will');
  }
}

/**
 * A node that crashed (or lost a job) before a stop left VMs and files of finished jobs:
 * reap them first, bounded and best effort; they would hold the CPUs and memory this job needs.
 */
async function reapFinishedJobs(engine: EngineContext, job: JobContext, deps: LifecycleDeps, seconds: number, results: ReapResult[]): Promise<void> {
  try {
    const reaped = await withDeadline(reapOrphans(engine, { isActive: job.isActive }), Math.max(5, seconds) * 1000, 'gc of finished jobs');
    results.push(reaped);
    const done = reaped.jobs.filter((j) => j.error === null);
    if (done.length > 0) deps.say(`vTorque: reaped the leftovers of ${done.length} finished job(s) on this node first`);
  } catch (err) {
    deps.log.warn({ phase: 'gc', err: reason(err) }, 'gc before the start failed; going on');
  }
}
