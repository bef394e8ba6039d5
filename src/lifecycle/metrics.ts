import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import type { SiteConfig } from '../core/config/index.js';
import { jobDirName, RECORDS_DIR } from '../core/contract/job-state.v1.js';
import { lstatNoFollow, privateDirProblem, readFileNoFollow, replaceFileAtomic } from '../core/fs/index.js';
import { acquireNodeLock, type HeldLock } from '../core/node/lock.js';
import { domainName, readJobRecord, withDeadline, type EngineLog, type ReapResult } from '../engine/index.js';
import { reason } from './classify.js';
import type { StartOutcome } from './job-context.js';

/**
 * Per-node Prometheus metrics for node_exporter's textfile collector (METRICS_FILE): the root
 * hooks add what each start, stop and gc did to a small cumulative state of root's
 * (SPOOL_DIR/metrics.json, under SPOOL_DIR/metrics.lock) and render the whole text file from it,
 * replaced atomically. Best effort throughout: a metrics failure is a warning in the log, never a
 * job's failure, and the time it may take is bounded (METRICS_WAIT_MS for the lock, then a few
 * small local files).
 */

/** In SPOOL_DIR: the cumulative counts the text file is rendered from (root 0600), and its lock. */
export const METRICS_STATE_FILE = 'metrics.json';
export const METRICS_LOCK_FILE = 'metrics.lock';

/** Upper bounds (seconds) of the phase histogram: from a KVM boot's sub-second steps to a loaded TCG boot's minutes. */
export const PHASE_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300] as const;

/** The phases a start's timeline records (engine/head: start.ts, readiness.ts), in their order; a test-driver start has the first three only. */
export const ENGINE_PHASES = ['plan', 'prepare', 'boot', 'ip', 'ssh', 'nodefile'] as const;

export const FAILURE_CLASSES = ['job', 'node', 'cancel'] as const;
export const GC_KINDS = ['jobs', 'domains', 'files', 'arp', 'markers'] as const;

/** Most the lock is waited for, in ms (less when the hook's deadline is nearer). */
export const METRICS_WAIT_MS = 1000;
/** Least wait, however near the deadline: the adapters end their hooks seconds before the scheduler's kill. */
const MIN_WAIT_MS = 250;
const MAX_STATE_BYTES = 64 << 10;
/** Label values kept per metric (past them: `other` for schedulers, a phase not kept). */
const MAX_LABELS = 16;
const LABEL = /^[a-z][a-z0-9_.-]{0,31}$/;

const Count = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const Label = v.pipe(v.string(), v.regex(LABEL));
const HistogramSchema = v.pipe(
  v.strictObject({
    /** Cumulative: observations at or below PHASE_BUCKETS[i] seconds. */
    buckets: v.pipe(v.array(Count), v.length(PHASE_BUCKETS.length)),
    count: Count,
    /** The sum in whole milliseconds (no float drift over many adds). */
    sumMs: Count,
  }),
  v.check((h) => h.buckets.every((b, i) => b <= (h.buckets[i + 1] ?? h.count)), 'bucket counts must be cumulative and at most the count'),
);

/** SPOOL_DIR/metrics.json, version 1. Another version, or a file that does not parse, starts the counts afresh (a counter reset to Prometheus). */
export const MetricsStateV1Schema = v.strictObject({
  version: v.literal(1),
  /** The histogram's bounds the counts were made with. */
  le: v.pipe(v.array(v.number()), v.check((le) => le.length === PHASE_BUCKETS.length && le.every((b, i) => b === PHASE_BUCKETS[i]), 'other histogram buckets')),
  /** VM jobs whose VMs started here, by scheduler (lowercased). */
  started: v.pipe(v.record(Label, Count), v.maxEntries(MAX_LABELS + 1)),
  /** Starts that failed, by the outcome's fault. */
  failed: v.strictObject({ job: Count, node: Count, cancel: Count }),
  /** Phase times of the started jobs, by phase. */
  phases: v.pipe(v.record(Label, HistogramSchema), v.maxEntries(MAX_LABELS)),
  /** VMs named by the job records on this node, as the last start, stop or gc left them. */
  vmsRunning: Count,
  /** What gc reaped here (vtorque gc and the reap before each start). */
  gc: v.strictObject({ jobs: Count, domains: Count, files: Count, arp: Count, markers: Count }),
});
export type MetricsStateV1 = v.InferOutput<typeof MetricsStateV1Schema>;
type Histogram = v.InferOutput<typeof HistogramSchema>;

/** What one hook run adds. */
export type MetricsEvent =
  | { readonly kind: 'start'; readonly scheduler: string; readonly outcome: StartOutcome; readonly reaped?: readonly ReapResult[] }
  | { readonly kind: 'stop' }
  | { readonly kind: 'gc'; readonly reaped: ReapResult };

export function emptyMetrics(): MetricsStateV1 {
  return { version: 1, le: [...PHASE_BUCKETS], started: {}, failed: { job: 0, node: 0, cancel: 0 }, phases: {}, vmsRunning: 0, gc: { jobs: 0, domains: 0, files: 0, arp: 0, markers: 0 } };
}

/** A scheduler's name as a label value: lowercased, one safe word. */
export function schedulerLabel(name: string): string {
  const word = name.toLowerCase().replace(/[^a-z0-9_.-]+/g, '_').slice(0, 32);
  return LABEL.test(word) ? word : 'other';
}

/** The state with one event added (pure; `vmsRunning` is what the job records on the node name now). */
export function mergeEvent(state: MetricsStateV1, event: MetricsEvent, vmsRunning: number): MetricsStateV1 {
  const next: MetricsStateV1 = { ...state, started: { ...state.started }, failed: { ...state.failed }, phases: { ...state.phases }, gc: { ...state.gc }, vmsRunning };
  const reaps = event.kind === 'gc' ? [event.reaped] : event.kind === 'start' ? (event.reaped ?? []) : [];
  for (const r of reaps) {
    const done = r.jobs.filter((j) => j.error === null);
    next.gc.jobs += done.length;
    next.gc.domains += done.reduce((n, j) => n + j.domains.length, 0);
    next.gc.files += done.reduce((n, j) => n + j.files, 0);
    next.gc.arp += done.reduce((n, j) => n + j.arp.length, 0);
    next.gc.markers += r.markers.length;
  }
  if (event.kind !== 'start') return next;
  if (event.outcome.kind === 'failed') {
    next.failed[event.outcome.fault] += 1;
    return next;
  }
  // Own keys only: a label value like `constructor` is a name, not Object.prototype's.
  let scheduler = schedulerLabel(event.scheduler);
  if (!Object.hasOwn(next.started, scheduler) && Object.keys(next.started).length >= MAX_LABELS) scheduler = 'other';
  next.started[scheduler] = (Object.hasOwn(next.started, scheduler) ? (next.started[scheduler] as number) : 0) + 1;
  for (const mark of event.outcome.timeline) {
    if (!LABEL.test(mark.phase)) continue;
    const old = Object.hasOwn(next.phases, mark.phase) ? next.phases[mark.phase] : undefined;
    if (old === undefined && Object.keys(next.phases).length >= MAX_LABELS) continue;
    next.phases[mark.phase] = observe(old ?? { buckets: PHASE_BUCKETS.map(() => 0), count: 0, sumMs: 0 }, Math.max(0, Math.round(mark.endMs - mark.startMs)));
  }
  return next;
}

function observe(h: Histogram, ms: number): Histogram {
  return { buckets: h.buckets.map((n, i) => (ms <= (PHASE_BUCKETS[i] as number) * 1000 ? n + 1 : n)), count: h.count + 1, sumMs: h.sumMs + ms };
}

const HELP = {
  started: 'VM jobs whose VMs started on this node (the start returned running), by scheduler.',
  failed: 'VM job starts on this node that failed, by whose fault: job, node or cancel.',
  phase: 'Time of each phase of a VM job start on this node (from the start timeline), in seconds.',
  running: 'VMs named by the job records on this node after the last VM start, stop or gc.',
  gc: 'What gc reaped on this node (vtorque gc and the reap before each VM start), by kind.',
  updated: 'When vTorque last wrote this file, in seconds since the epoch.',
} as const;

/** Label value escaping of the text format: backslash, double quote, newline. */
const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const num = (n: number): string => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

/** The state as a Prometheus text file (text format 0.0.4, as node_exporter's textfile collector reads it). Pure. */
export function renderMetrics(state: MetricsStateV1, nowMs: number): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void => void out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const sample = (name: string, labels: readonly (readonly [string, string])[], value: number): void => {
    const text = labels.length === 0 ? '' : `{${labels.map(([k, val]) => `${k}="${esc(val)}"`).join(',')}}`;
    out.push(`${name}${text} ${num(value)}`);
  };

  family('vtorque_jobs_started_total', 'counter', HELP.started);
  for (const s of Object.keys(state.started).sort()) sample('vtorque_jobs_started_total', [['scheduler', s]], state.started[s] as number);

  family('vtorque_jobs_failed_total', 'counter', HELP.failed);
  for (const c of FAILURE_CLASSES) sample('vtorque_jobs_failed_total', [['class', c]], state.failed[c]);

  family('vtorque_vm_phase_seconds', 'histogram', HELP.phase);
  const known: readonly string[] = ENGINE_PHASES;
  const phases = [...ENGINE_PHASES.filter((p) => Object.hasOwn(state.phases, p)), ...Object.keys(state.phases).filter((p) => !known.includes(p)).sort()];
  for (const p of phases) {
    const h = state.phases[p] as Histogram;
    PHASE_BUCKETS.forEach((le, i) => sample('vtorque_vm_phase_seconds_bucket', [['phase', p], ['le', num(le)]], h.buckets[i] as number));
    sample('vtorque_vm_phase_seconds_bucket', [['phase', p], ['le', '+Inf']], h.count);
    sample('vtorque_vm_phase_seconds_sum', [['phase', p]], h.sumMs / 1000);
    sample('vtorque_vm_phase_seconds_count', [['phase', p]], h.count);
  }

  family('vtorque_vms_running', 'gauge', HELP.running);
  sample('vtorque_vms_running', [], state.vmsRunning);

  family('vtorque_gc_leaked_resources_total', 'counter', HELP.gc);
  for (const k of GC_KINDS) sample('vtorque_gc_leaked_resources_total', [['kind', k]], state.gc[k]);

  family('vtorque_metrics_last_update_timestamp_seconds', 'gauge', HELP.updated);
  sample('vtorque_metrics_last_update_timestamp_seconds', [], nowMs / 1000);
  return `${out.join('\n')}\n`;
}

/** The state in SPOOL_DIR, or an empty one when there is none; a state that does not parse is started afresh (with a warning). */
export function readMetricsState(config: Pick<SiteConfig, 'SPOOL_DIR'>, log: EngineLog): MetricsStateV1 {
  const path = join(config.SPOOL_DIR, METRICS_STATE_FILE);
  if (!lstatNoFollow(path, { trusted: true })) return emptyMetrics();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileNoFollow(path, MAX_STATE_BYTES));
  } catch (err) {
    log.warn({ path, err: reason(err) }, 'the metrics state is unreadable; the counts start again from 0');
    return emptyMetrics();
  }
  const parsed = v.safeParse(MetricsStateV1Schema, raw);
  if (parsed.success) return parsed.output;
  const first = parsed.issues[0];
  log.warn({ path, at: first ? (v.getDotPath(first) ?? '(top)') : '(top)', err: first?.message }, 'the metrics state is not version 1 as this vTorque writes it; the counts start again from 0');
  return emptyMetrics();
}

/**
 * VMs of this node that root's job records name: a record's VMs whose domain names are this
 * record's node's (a multi-node job's head names every node's VMs). Unreadable records count none.
 */
export function countRecordedVms(config: Pick<SiteConfig, 'SPOOL_DIR'>): number {
  const dir = join(config.SPOOL_DIR, RECORDS_DIR);
  if (!lstatNoFollow(dir, { trusted: true })?.isDirectory()) return 0;
  let n = 0;
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.json') || file.startsWith('.')) continue;
    try {
      const raw = JSON.parse(readFileNoFollow(join(dir, file), 1 << 20)) as { jobId?: unknown };
      if (typeof raw.jobId !== 'string' || `${jobDirName(raw.jobId)}.json` !== file) continue;
      const record = readJobRecord(config, raw.jobId);
      if (record === null) continue;
      // domainName(job, node, i) is the prefix plus the index: this node's VMs are exactly those.
      const prefix = domainName(record.jobId, record.node, 0).slice(0, -1);
      n += record.vms.filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length))).length;
    } catch {
      // Root's own file cut short by a crash: the stop or gc that reads it says so.
    }
  }
  return n;
}

export interface MetricsOptions {
  /** Date.now() by which the hook must be done: the lock is waited for less when it is near. */
  readonly deadlineAt?: number;
  readonly now?: () => number;
}

/**
 * Add what one start, stop or gc did to this node's metrics and rewrite METRICS_FILE (nothing
 * when it is ""). Never throws and never waits long: a lock not had in time, an unwritable
 * directory or anything else is a warning, and the hook goes on.
 */
export async function recordMetrics(config: Pick<SiteConfig, 'SPOOL_DIR' | 'METRICS_FILE'>, log: EngineLog, event: MetricsEvent, opts: MetricsOptions = {}): Promise<void> {
  if (config.METRICS_FILE === '') return;
  const now = opts.now ?? Date.now;
  const waitMs = opts.deadlineAt === undefined ? METRICS_WAIT_MS : Math.min(METRICS_WAIT_MS, Math.max(MIN_WAIT_MS, opts.deadlineAt - now()));
  let held: HeldLock | undefined;
  try {
    // The lock file is opened by flock(1), which follows symlinks: only in a SPOOL_DIR that is root's alone.
    const spool = lstatNoFollow(config.SPOOL_DIR, { trusted: true });
    const problem = spool === null ? 'does not exist yet' : privateDirProblem(config.SPOOL_DIR, spool);
    if (problem !== null) throw new Error(`SPOOL_DIR ${config.SPOOL_DIR} ${problem}`);
    // flock's own bound is whole seconds; the deadline is the bound, a lock had too late is let go at once.
    held = await withDeadline(acquireNodeLock(join(config.SPOOL_DIR, METRICS_LOCK_FILE), { timeoutMs: waitMs }), waitMs, 'the metrics lock', (late) => void late.release());
    const state = mergeEvent(readMetricsState(config, log), event, countRecordedVms(config));
    replaceFileAtomic(join(config.SPOOL_DIR, METRICS_STATE_FILE), `${JSON.stringify(state)}\n`, 0o600);
    replaceFileAtomic(config.METRICS_FILE, renderMetrics(state, now()), 0o644);
  } catch (err) {
    log.warn({ phase: 'metrics', event: event.kind, metricsFile: config.METRICS_FILE, err: reason(err) }, 'updating the metrics failed; the job goes on');
  } finally {
    await held?.release().catch(() => undefined);
  }
}
