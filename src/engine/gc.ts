import { readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { jobDirName } from '../core/contract/job-state.v1.js';
import { lstatNoFollow, unlinkNoFollow } from '../core/fs/index.js';
import { parseOwnerMetadata } from '../core/libvirt/index.js';
import { domainPrefix } from './naming.js';
import { stopJobVms, type EngineContext } from './orchestrate.js';

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
  readonly seen: readonly ('domain' | 'job dir' | 'tmpfs dir')[];
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
 * Reap what jobs the batch system no longer has left on this node: their domains (name prefix AND
 * owner metadata, as teardown always matches), ARP entries, tmpfs, job dirs; then stale cancel
 * markers and node-fault counters. For a node that crashed or lost a job before its epilogue ran.
 * Every job is tried; one failing does not stop the others.
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
  // Domains first, by their exact job id: a job dir name may differ from the id it came from.
  const byDir = new Map<string, string>();
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
      const stopped = await stopJobVms(job, ctx, { keepLogs: false });
      ctx.log.info({ phase: 'gc', job, domains: stopped.domains, files: stopped.files.length, arp: stopped.arp }, 'reaped a job the batch system no longer has');
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
  for (const sub of ['cancel', 'attempts']) {
    const dir = join(c.SPOOL_DIR, sub);
    for (const name of entries(dir)) {
      const path = join(dir, name);
      const st: Stats | null = lstatNoFollow(path, { trusted: true });
      // A requeued job is not on this node between its attempts: its counter must outlive that.
      if (!st || opts.isActive(name) || now - st.mtimeMs < maxAge) continue;
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
