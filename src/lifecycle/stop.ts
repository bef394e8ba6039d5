import type { SiteConfig } from '../core/config/index.js';
import { lstatNoFollow } from '../core/fs/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { jobDirPath, nodeEngine, readJobRecord, recordMadeNoVms, stopJob, type EngineContext, type EngineLog, type JobRecordV1 } from '../engine/index.js';
import { reason } from './classify.js';
import type { StopOutcome } from './job-context.js';
import { agentConnector, stopOnSisters, type ConnectNode } from './sisters.js';

export interface StopDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly log: EngineLog;
  /** How the job's other nodes are reached (default: their node agents by NODE_AGENT_COMMAND). */
  readonly connect?: ConnectNode;
}

/**
 * End everything the job's start recorded on this node: idempotent, also after a failed, killed
 * or partial start. It reads nothing the job owner can write: the decision and every value come
 * from root's record (written by the start) and libvirt. Never throws: what is left is named.
 */
export async function stopJobHere(jobId: string, deps: StopDeps): Promise<StopOutcome> {
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
  let engine: EngineContext | undefined;
  try {
    // A start that never planned a VM (refused, or undone) left only files: no libvirt needed.
    if (!recordMadeNoVms(record)) engine = await nodeEngine(c, deps.layout, deps.log, () => undefined);
    // The job's other nodes first (their VMs through their agents), while this record still names them.
    // A record that names no VM: the start never planned, so nothing was made on them.
    const sisters = recordMadeNoVms(record) ? [] : (record?.sisters ?? []);
    const elsewhere = sisters.length > 0 ? await stopOnSisters(jobId, sisters, record?.keepLogs ?? false, deps.connect ?? agentConnector(c, deps.layout, deps.log)) : [];
    if (elsewhere.length > 0) deps.log.warn({ problems: elsewhere }, "VMs left on the job's other nodes; their gc reaps them");
    const stopped = await stopJob(engine ?? { config: c, log: deps.log }, jobId, record);
    if (stopped.problems.length > 0) deps.log.warn({ problems: stopped.problems }, 'teardown incomplete; the next stop or `vtorque gc` retries');
    return { kind: 'stopped', ownerUid, domains: stopped.domains, problems: [...elsewhere, ...stopped.problems], error: null };
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'teardown failed; `vtorque gc` will retry');
    return { kind: 'stopped', ownerUid, domains: [], problems: [], error: reason(err) };
  } finally {
    await engine?.libvirt.close().catch(() => undefined);
  }
}
