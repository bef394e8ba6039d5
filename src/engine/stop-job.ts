import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseUidRange } from '../core/config/index.js';
import { withNodeLock } from '../core/node/lock.js';
import { cancelDirPath, removeCancelSignal } from './cancel-signal.js';
import { stopComponentCommands, type ComponentCommand } from './components.js';
import { removeJobRecord, updateJobRecord, type JobRecordV1 } from './job-record.js';
import { observeDomains } from './observe.js';
import { NODE_LOCK_FILE, type EngineContext } from './context.js';
import { stopJobVms, type NodeStopResult as StopResult } from './node/index.js';
import { removeJobFiles } from './prepare/index.js';

export interface StopJobResult extends StopResult {
  /** Component stop commands that ran (from the record). */
  readonly components: readonly ComponentCommand[];
  /** pids of processes still running as the job's qemu uid, killed. */
  readonly killed: readonly number[];
  /** Everything that went wrong; empty: the job is gone from this node and its record removed. */
  readonly problems: readonly string[];
}

/** What stopping a job that never got VMs needs: no libvirt connection. */
export type StopContext = EngineContext | Pick<EngineContext, 'config' | 'log'>;

/** True when the record says the start never planned a VM or a tmpfs: nothing of it is in libvirt. */
export function recordMadeNoVms(record: JobRecordV1 | null): boolean {
  return record !== null && record.vms.length === 0 && record.ramdisk === null;
}

/**
 * End a job on this node from root's own record and libvirt only: its domains (name prefix AND
 * owner metadata), ARP entries, files and tmpfs (console logs kept only when the start decided
 * so), any process left with the job's qemu uid, its node components (the exact commands the
 * start recorded), its cancel directory; then the record. Whatever fails stays in the record for
 * the next epilogue or gc (`keepRecord`: kept even when all is done here, for a caller that still
 * tears down elsewhere). `record` null: a job without one (teardown by job id; no components).
 * A record naming no VM needs no libvirt (`ctx` may then lack it): only files are removed.
 */
export async function stopJob(ctx: StopContext, jobId: string, record: JobRecordV1 | null, opts: { readonly keepRecord?: boolean } = {}): Promise<StopJobResult> {
  const c = ctx.config;
  const problems: string[] = [];
  let vms: StopResult = { domains: [], files: [], arp: [] };
  let vmsGone = true;
  try {
    if (recordMadeNoVms(record)) vms = { ...vms, files: await removeJobFiles(c, jobId, { keepLogs: false }) };
    else if (!('libvirt' in ctx)) throw new Error('libvirt is needed to remove the job\'s VMs');
    else vms = await stopJobVms(jobId, ctx, { keepLogs: record?.keepLogs ?? false, ramdisk: record?.ramdisk ?? undefined });
  } catch (err) {
    vmsGone = false;
    problems.push(`VMs: ${err instanceof Error ? err.message : String(err)}`);
  }
  let killed: number[] = [];
  if (vmsGone && record?.qemuUid != null && 'libvirt' in ctx) {
    try {
      killed = await killStrayQemu(ctx, record.qemuUid);
    } catch (err) {
      problems.push(`processes of qemu uid ${record.qemuUid}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const stops = record?.componentStops ?? [];
  const components = await stopComponentCommands(stops, c.COMPONENT_TIMEOUT, ctx.log);
  problems.push(...components.problems);
  try {
    removeCancelSignal(c, jobId);
  } catch (err) {
    problems.push(`cancel directory ${cancelDirPath(c, jobId)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (record) {
    try {
      // keepRecord: the caller still tears down elsewhere (the job's other nodes) and removes it once all is done.
      if (problems.length === 0) {
        if (!opts.keepRecord) removeJobRecord(c, jobId);
      }
      else if (components.failed.length !== stops.length) updateJobRecord(c, record, { componentStops: components.failed });
    } catch (err) {
      problems.push(`job record: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ...vms, components: stops, killed, problems };
}

/**
 * QEMU_USER job-uid: once the job's domains are gone, nothing may keep running as its uid (a qemu
 * libvirtd lost track of would share the next job's identity, and so its disks). Under the node
 * lock, so no new job can be given the uid meanwhile; only a uid inside QEMU_UIDS, never another.
 */
async function killStrayQemu(ctx: EngineContext, uid: number): Promise<number[]> {
  const c = ctx.config;
  const range = parseUidRange(c.QEMU_UIDS);
  if (c.QEMU_USER !== 'job-uid' || !range || uid < range.start || uid > range.end) return [];
  return withNodeLock(join(c.SPOOL_DIR, NODE_LOCK_FILE), { timeoutMs: c.TIMEOUT * 1000 }, async () => {
    if ((await observeDomains(ctx.libvirt)).busyQemuUids.has(uid)) return []; // a domain holds it again: its processes are its own
    const killed: number[] = [];
    for (const pid of processesOf(uid)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // gone meanwhile
      }
    }
    if (killed.length > 0) ctx.log.warn({ phase: 'teardown', uid, pids: killed }, 'killed processes left with the job\'s qemu uid');
    return killed;
  });
}

/** pids whose /proc entry is owned by `uid` (the process's effective uid). */
export function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (statSync(`/proc/${name}`).uid === uid) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}
