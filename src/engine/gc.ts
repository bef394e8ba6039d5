import { readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { jobDirName } from '../core/contract/job-state.v1.js';
import { lstatNoFollow, unlinkNoFollow } from '../core/fs/index.js';
import { parseOwnerMetadata } from '../core/libvirt/index.js';
import { CANCEL_DIR, removeCancelSignal } from './cancel-signal.js';
import { listJobRecords, RECORDS_DIR, type JobRecordV1 } from './job-record.js';
import { domainPrefix } from './naming.js';
import type { EngineContext } from './context.js';
import { stopJob } from './stop-job.js';

export interface ReapOptions {
  /**
   * Whether the batch system still has a job (by exact id, or by a job dir name, which is the id
   * made path-safe). Anything it has is never touched. The caller must answer conservatively.
   */
  readonly isActive: (jobIdOrDirName: string) => boolean;
  /** List what would go, change nothing. */
  readonly dryRun?: boolean;
  /** Cancel markers and node-fault counters of gone jobs older than this are removed (default 24 h). */
  readonly markerMaxAgeMs?: number;
  readonly now?: number;
}

export interface ReapedJob {
  /** The job id (from a domain's owner metadata) or its job dir name. */
  readonly job: string;
  /** Why it was reaped: which of its leftovers were seen. */
  readonly seen: readonly ('record' | 'domain' | 'job dir' | 'tmpfs dir')[];
  readonly domains: readonly string[];
  readonly files: number;
  readonly arp: readonly string[];
  /** The teardown's failure, if any (the next run tries again). */
  readonly error: string | null;
}

export interface ReapResult {
  readonly jobs: readonly ReapedJob[];
  readonly markers: readonly string[];
}

/**
 * Reap what jobs the batch system no longer has left on this node: everything their root-owned
 * record names (node components with the exact stop commands the start recorded, the qemu uid),
 * their domains (name prefix AND owner metadata, as teardown always matches), ARP entries, tmpfs,
 * job dirs, cancel directories; then stale node-fault counters. For a node that crashed or lost a
 * job before its epilogue ran. Every job is tried; one failing does not stop the others.
 */
export async function reapOrphans(ctx: EngineContext, options: ReapOptions): Promise<ReapResult> {
  const c = ctx.config;
  // An answer we cannot get counts as "still active": gc may reap late, never early.
  const isActive = (job: string): boolean => {
    try {
      return options.isActive(job);
    } catch {
      return true;
    }
  };
  const opts = { ...options, isActive };
  const seen = new Map<string, Set<ReapedJob['seen'][number]>>();
  const note = (job: string, what: ReapedJob['seen'][number]): void => {
    const set = seen.get(job) ?? new Set();
    set.add(what);
    seen.set(job, set);
  };
  // Records and domains first, by their exact job id: a job dir name may differ from the id it came from.
  const byDir = new Map<string, string>();
  const records = new Map<string, JobRecordV1 | null>();
  for (const { jobId, record } of listJobRecords(c)) {
    if (opts.isActive(jobId)) continue;
    note(jobId, 'record');
    records.set(jobId, record);
    byDir.set(jobDirName(jobId), jobId);
  }
  for (const { name } of await ctx.libvirt.listDomains()) {
    const xml = await ctx.libvirt.xmlOf(name).catch(() => null);
    const owner = xml === null ? null : parseOwnerMetadata(xml);
    if (!owner || !name.startsWith(domainPrefix(owner.job)) || opts.isActive(owner.job)) continue;
    note(owner.job, 'domain');
    byDir.set(jobDirName(owner.job), owner.job);
  }
  for (const [dir, what] of [[join(c.SPOOL_DIR, 'jobs'), 'job dir'], [c.RAMDISK_DIR, 'tmpfs dir']] as const) {
    for (const name of entries(dir)) {
      if (opts.isActive(name)) continue;
      note(byDir.get(name) ?? name, what);
    }
  }
  const jobs: ReapedJob[] = [];
  for (const [job, what] of [...seen].sort(([a], [b]) => a.localeCompare(b))) {
    // Asked again just before: a job that started meanwhile is left alone.
    if (isActive(job)) continue;
    if (opts.dryRun) {
      jobs.push({ job, seen: [...what], domains: [], files: 0, arp: [], error: null });
      continue;
    }
    try {
      // A crashed job's debug logs are not kept: nobody is left to read them, and gc must make room.
      const record = records.get(job) ?? null;
      const stopped = await stopJob(ctx, job, record && { ...record, keepLogs: false });
      if (stopped.problems.length > 0) throw new Error(stopped.problems.join('; '));
      ctx.log.info({ phase: 'gc', job, domains: stopped.domains, files: stopped.files.length, arp: stopped.arp, components: stopped.components.map((s) => s.name) }, 'reaped a job the batch system no longer has');
      jobs.push({ job, seen: [...what], domains: stopped.domains, files: stopped.files.length, arp: stopped.arp, error: null });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      ctx.log.warn({ phase: 'gc', job, err: error }, 'reaping a job failed');
      jobs.push({ job, seen: [...what], domains: [], files: 0, arp: [], error });
    }
  }
  const maxAge = opts.markerMaxAgeMs ?? 24 * 3600_000;
  const now = opts.now ?? Date.now();
  const markers: string[] = [];
  // A cancel directory of a job not on this node is dead at once (the next start makes a fresh
  // one); a node-fault counter must outlive the gaps between a requeued job's attempts.
  for (const name of entries(join(c.SPOOL_DIR, CANCEL_DIR))) {
    if (opts.isActive(name)) continue;
    const path = join(c.SPOOL_DIR, CANCEL_DIR, name);
    if (!opts.dryRun) {
      try {
        removeCancelSignal(c, name);
      } catch (err) {
        ctx.log.warn({ phase: 'gc', path, err: err instanceof Error ? err.message : String(err) }, 'removing a cancel directory failed; the next gc goes on');
        continue;
      }
    }
    markers.push(path);
  }
  for (const [sub, stale] of [['attempts', (st: Stats) => now - st.mtimeMs >= maxAge], [RECORDS_DIR, (st: Stats) => now - st.mtimeMs >= 3600_000]] as const) {
    const dir = join(c.SPOOL_DIR, sub);
    for (const name of entries(dir)) {
      // In the records dir only the temporaries an interrupted atomic write left behind.
      if (sub === RECORDS_DIR && !(name.startsWith('.') && name.endsWith('.tmp'))) continue;
      const path = join(dir, name);
      const st: Stats | null = lstatNoFollow(path, { trusted: true });
      if (!st || opts.isActive(name) || !stale(st)) continue;
      if (!opts.dryRun) unlinkNoFollow(path);
      markers.push(path);
    }
  }
  return { jobs, markers };
}

/** Names in a root-owned directory of ours; none when it does not exist. */
function entries(dir: string): string[] {
  const st = lstatNoFollow(dir, { trusted: true });
  if (!st?.isDirectory()) return [];
  return readdirSync(dir).sort();
}
