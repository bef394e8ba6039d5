import { hostname } from 'node:os';
import type { SiteConfig } from '../core/config/index.js';
import { lstatNoFollow } from '../core/fs/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { connectNode, jobDirPath, nodeEngine, readJobRecord, recordMadeNoVms, removeCancelSignal, removeJobRecord, stopJob, withDeadline, type EngineContext, type EngineLog, type JobRecordV1, type RemoteNode } from '../engine/index.js';
import { reason } from './classify.js';
import type { StopOutcome } from './job-context.js';
import { agentConnector, stopOnSisters, type ConnectNode } from './sisters.js';
import { awaitJobStart, releaseJobLock } from './job-lock.js';
import { recordMetrics } from './metrics.js';
import { recordJobEnd } from './status.js';

export interface StopDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly log: EngineLog;
  /** How the job's other nodes are reached (default: their node agents by NODE_AGENT_COMMAND). */
  readonly connect?: ConnectNode;
  /**
   * Date.now() by which the stop returns, done or not (the scheduler kills its hook later): what
   * is not done by then stays for the next stop or gc, and the outcome says so. None: unbounded.
   */
  readonly deadlineAt?: number;
  /**
   * A node of the job that is not its head: how it reaches its own node agent, whose localNode
   * removes its VMs (default: this install's `vtorque node-agent`, a child process). Tests give their own.
   */
  readonly ownAgent?: ConnectNode;
  /** The site config that agent reads (default: the one it finds itself, as every vtorque command does). */
  readonly configPath?: string;
}

/**
 * End everything the job's start recorded on this node, the head of the job: idempotent, also
 * after a failed, killed or partial start. It reads nothing the job owner can write: the decision
 * and every value come from root's record (written by the start) and libvirt; the job's other
 * nodes (the record's `sisters`) are torn down through their agents at the same time, and the
 * record stays until all are done. Never throws: what is left is named.
 */
export function stopJobHere(jobId: string, deps: StopDeps): Promise<StopOutcome> {
  return stopOnThisNode(jobId, deps, true);
}

/**
 * The same on a node of the job that is not its head (a Torque sister mom): only this node's part,
 * from its own libvirt and spool. A VM job had its VMs prepared here by the head through this
 * node's agent, which left the job's state dir in this node's spool (root's: SPOOL_DIR/jobs is
 * root's 0711); that dir, or a record of this node's own (it was the head of an earlier start of
 * the job), is the one sign the job had anything here. Never reaches another node: the head does.
 * Without a record the VMs go through this node's own agent, as the head would remove them: the
 * caller's process never waits in libvirt itself, so it can give up at its deadline and end (a
 * libvirt call that never returns would keep even a process that exits from ending).
 */
export function stopJobPartHere(jobId: string, deps: StopDeps): Promise<StopOutcome> {
  return stopOnThisNode(jobId, deps, false);
}

/**
 * Whether this node is where the job's start was recorded (its head): for a scheduler that runs
 * the same hook on every node (Slurm's Epilog), which of the two stops above applies. An
 * unreadable record counts as here: the head's stop reports it.
 */
export function startRecordedHere(c: SiteConfig, jobId: string): boolean {
  try {
    return readJobRecord(c, jobId) !== null;
  } catch {
    return true;
  }
}

/** This install's own node agent on this node, as a child process (bounded: each answer within `callTimeoutMs`). */
export function ownAgentConnector(layout: AppLayout, log: EngineLog, configPath: string | undefined, callTimeoutMs: number): ConnectNode {
  return (name) => connectNode({ name, argv: [process.execPath, layout.vtorqueBundle, 'node-agent', '--name', name, ...(configPath ? ['--config', configPath] : [])], callTimeoutMs, log });
}

/** How long a stop without a deadline waits for a start of the job still running here. */
const START_WAIT_MS = 120_000;

async function stopOnThisNode(jobId: string, deps: StopDeps, head: boolean): Promise<StopOutcome> {
  // Never beside a start of the same job: it could still be making (or undoing) what we decide from.
  const waitMs = deps.deadlineAt === undefined ? START_WAIT_MS : Math.max(1000, deps.deadlineAt - Date.now() - 1000);
  const held = await awaitJobStart(deps.config, jobId, waitMs, deps.log);
  let stopped: StopOutcome;
  try {
    stopped = await stopOnThisNodeHeld(jobId, deps, head);
  } finally {
    await releaseJobLock(deps.config, jobId, held);
  }
  if (stopped.kind === 'stopped' && head) recordJobEnd(deps.config, jobId, { vmsTornDown: stopped.domains.length, left: stopped.problems, error: stopped.error }, deps.log);
  if (stopped.kind === 'stopped') await recordMetrics(deps.config, deps.log, { kind: 'stop' }, deps.deadlineAt === undefined ? {} : { deadlineAt: deps.deadlineAt });
  return stopped;
}

async function stopOnThisNodeHeld(jobId: string, deps: StopDeps, head: boolean): Promise<StopOutcome> {
  const c = deps.config;
  let record: JobRecordV1 | null = null;
  let unreadable = false;
  try {
    record = readJobRecord(c, jobId);
  } catch (err) {
    // Root's own file, so only a crash mid-write could do this: tear down by job id.
    unreadable = true;
    deps.log.warn({ err: reason(err) }, 'the job record is unreadable; tearing down by job id');
  }
  const hasState = lstatNoFollow(jobDirPath(c, jobId), { trusted: true }) !== null;
  if (!record && !unreadable && !hasState) return { kind: 'not-a-vm-job' };
  const ownerUid = record?.owner.uid ?? null;
  // A part with a record of its own is stopped as its head once stopped it, only without the other nodes.
  const work = head || record !== null || unreadable ? tearDown(jobId, deps, record, head, ownerUid) : tearDownByAgent(jobId, deps);
  if (deps.deadlineAt === undefined) return work;
  const limitMs = deps.deadlineAt - Date.now();
  // Past the deadline the teardown goes on until the adapter's process ends; it closes what it opened itself.
  return withDeadline(work, limitMs, `the teardown of job ${jobId} on this node`).catch((err: unknown) => {
    deps.log.warn({ err: reason(err) }, 'teardown did not finish in time; the next stop or `vtorque gc` retries');
    return { kind: 'stopped', ownerUid, domains: [], problems: [], error: `${reason(err)} (what is left stays for \`vtorque gc\`)` } as const;
  });
}

async function tearDown(jobId: string, deps: StopDeps, record: JobRecordV1 | null, head: boolean, ownerUid: number | null): Promise<StopOutcome> {
  const c = deps.config;
  let engine: EngineContext | undefined;
  try {
    // A start that never planned a VM (refused, or undone) left only files: no libvirt needed.
    if (!recordMadeNoVms(record)) engine = await nodeEngine(c, deps.layout, deps.log, () => undefined);
    // The job's other nodes (their VMs through their agents, the node list read from this record
    // before anything is removed) and this node, all at once. A record that names no VM: the start
    // never planned, so nothing was made on them.
    const sisters = !head || recordMadeNoVms(record) ? [] : (record?.sisters ?? []);
    // The record stays until every node is done: a sister that cannot be reached now is retried
    // by the next stop from it.
    const [elsewhere, stopped] = await Promise.all([
      sisters.length > 0 ? stopOnSisters(jobId, sisters, record?.keepLogs ?? false, deps.connect ?? agentConnector(c, deps.layout, deps.log)) : { domains: [], problems: [] },
      stopJob(engine ?? { config: c, log: deps.log }, jobId, record, { keepRecord: sisters.length > 0 }),
    ]);
    if (record && sisters.length > 0 && elsewhere.problems.length === 0 && stopped.problems.length === 0) removeJobRecord(c, jobId);
    if (elsewhere.problems.length > 0) deps.log.warn({ problems: elsewhere.problems }, "VMs left on the job's other nodes; their gc reaps them");
    if (stopped.problems.length > 0) deps.log.warn({ problems: stopped.problems }, 'teardown incomplete; the next stop or `vtorque gc` retries');
    return { kind: 'stopped', ownerUid, domains: [...stopped.domains, ...elsewhere.domains], problems: [...elsewhere.problems, ...stopped.problems], error: null };
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'teardown failed; `vtorque gc` will retry');
    return { kind: 'stopped', ownerUid, domains: [], problems: [], error: reason(err) };
  } finally {
    await engine?.libvirt.close().catch(() => undefined);
  }
}

/** This node's VMs and files of the job through its own agent (no record here: nothing else was made), then its cancel directory. */
async function tearDownByAgent(jobId: string, deps: StopDeps): Promise<StopOutcome> {
  const c = deps.config;
  // Each answer is awaited a little less than the deadline leaves, so that an agent stuck in libvirt is killed (by connectNode), not left behind.
  const msLeft = deps.deadlineAt === undefined ? c.TIMEOUT * 1000 : Math.max(1000, deps.deadlineAt - Date.now() - 500);
  const connect = deps.ownAgent ?? ownAgentConnector(deps.layout, deps.log, deps.configPath, msLeft);
  let agent: RemoteNode | undefined;
  try {
    agent = await connect(hostname().split('.')[0] ?? hostname());
    // Whether the job keeps its console logs (debug) is in the head's record only: they stay for the
    // head's stop, which removes them through this same agent unless the job keeps them (else gc does).
    const stopped = await agent.stopVms(jobId, { keepLogs: true });
    removeCancelSignal(c, jobId);
    return { kind: 'stopped', ownerUid: null, domains: stopped.domains, problems: [], error: null };
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'teardown failed; `vtorque gc` will retry');
    return { kind: 'stopped', ownerUid: null, domains: [], problems: [], error: reason(err) };
  } finally {
    await agent?.close().catch(() => undefined);
  }
}
