import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig, type SiteConfig } from '../core/config/index.js';
import { layoutAt } from '../core/install/paths.js';
import { acquireNodeLock } from '../core/node/lock.js';
import type { VmRequest } from '../core/request/index.js';
import { domainName, writeJobRecord, type JobRecordV1, type ReapResult } from '../engine/index.js';
import type { JobContext, StartOutcome } from './job-context.js';
import {
  countRecordedVms, emptyMetrics, mergeEvent, METRICS_LOCK_FILE, METRICS_STATE_FILE, MetricsStateV1Schema, PHASE_BUCKETS, recordMetrics, renderMetrics, schedulerLabel, type MetricsStateV1,
} from './metrics.js';
import { collectGarbage } from './gc.js';
import { startJob } from './start.js';
import { stopJobHere } from './stop.js';

const running = (timeline: [string, number, number][]): StartOutcome => ({ kind: 'running', vms: [], timeline: timeline.map(([phase, startMs, endMs]) => ({ phase, startMs, endMs })) });
const reap = (jobs: [domains: number, files: number, arp: number, error: string | null][], markers: number): ReapResult => ({
  jobs: jobs.map(([d, files, a, error], i) => ({ job: `${i}.srv`, seen: ['domain'], domains: Array.from({ length: d }, (_, k) => `vtq-${i}.srv-n-${k}`), files, arp: Array.from({ length: a }, (_, k) => `10.0.0.${k}`), error })),
  markers: Array.from({ length: markers }, (_, k) => `/spool/cancel/${k}`),
});

describe('the metrics text (pure)', () => {
  it('renders every family with HELP and TYPE, cumulative buckets with +Inf, _sum and _count, exactly', () => {
    let s = mergeEvent(emptyMetrics(), { kind: 'start', scheduler: 'Torque', outcome: running([['plan', 0, 120], ['prepare', 120, 620], ['boot', 620, 4620]]) }, 1);
    s = mergeEvent(s, { kind: 'start', scheduler: 'Torque', outcome: { kind: 'failed', fault: 'node', reason: 'libvirt is down' } }, 1);
    s = mergeEvent(s, { kind: 'gc', reaped: reap([[2, 5, 1, null], [1, 0, 0, 'libvirt is down']], 2) }, 3);
    expect(renderMetrics(s, 1_700_000_000_500)).toBe(`# HELP vtorque_jobs_started_total VM jobs whose VMs started on this node (the start returned running), by scheduler.
# TYPE vtorque_jobs_started_total counter
vtorque_jobs_started_total{scheduler="torque"} 1
# HELP vtorque_jobs_failed_total VM job starts on this node that failed, by whose fault: job, node or cancel.
# TYPE vtorque_jobs_failed_total counter
vtorque_jobs_failed_total{class="job"} 0
vtorque_jobs_failed_total{class="node"} 1
vtorque_jobs_failed_total{class="cancel"} 0
# HELP vtorque_vm_phase_seconds Time of each phase of a VM job start on this node (from the start timeline), in seconds.
# TYPE vtorque_vm_phase_seconds histogram
vtorque_vm_phase_seconds_bucket{phase="plan",le="0.5"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="1"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="2"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="5"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="10"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="20"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="30"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="60"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="120"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="300"} 1
vtorque_vm_phase_seconds_bucket{phase="plan",le="+Inf"} 1
vtorque_vm_phase_seconds_sum{phase="plan"} 0.12
vtorque_vm_phase_seconds_count{phase="plan"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="0.5"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="1"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="2"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="5"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="10"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="20"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="30"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="60"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="120"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="300"} 1
vtorque_vm_phase_seconds_bucket{phase="prepare",le="+Inf"} 1
vtorque_vm_phase_seconds_sum{phase="prepare"} 0.5
vtorque_vm_phase_seconds_count{phase="prepare"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="0.5"} 0
vtorque_vm_phase_seconds_bucket{phase="boot",le="1"} 0
vtorque_vm_phase_seconds_bucket{phase="boot",le="2"} 0
vtorque_vm_phase_seconds_bucket{phase="boot",le="5"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="10"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="20"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="30"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="60"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="120"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="300"} 1
vtorque_vm_phase_seconds_bucket{phase="boot",le="+Inf"} 1
vtorque_vm_phase_seconds_sum{phase="boot"} 4
vtorque_vm_phase_seconds_count{phase="boot"} 1
# HELP vtorque_vms_running VMs named by the job records on this node after the last VM start, stop or gc.
# TYPE vtorque_vms_running gauge
vtorque_vms_running 3
# HELP vtorque_gc_leaked_resources_total What gc reaped on this node (vtorque gc and the reap before each VM start), by kind.
# TYPE vtorque_gc_leaked_resources_total counter
vtorque_gc_leaked_resources_total{kind="jobs"} 1
vtorque_gc_leaked_resources_total{kind="domains"} 2
vtorque_gc_leaked_resources_total{kind="files"} 5
vtorque_gc_leaked_resources_total{kind="arp"} 1
vtorque_gc_leaked_resources_total{kind="markers"} 2
# HELP vtorque_metrics_last_update_timestamp_seconds When vTorque last wrote this file, in seconds since the epoch.
# TYPE vtorque_metrics_last_update_timestamp_seconds gauge
vtorque_metrics_last_update_timestamp_seconds 1700000000.5
`);
  });

  it('renders a fresh node: the closed label sets at 0, no scheduler and no phase yet', () => {
    expect(renderMetrics(emptyMetrics(), 0).split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'vtorque_jobs_failed_total{class="job"} 0',
      'vtorque_jobs_failed_total{class="node"} 0',
      'vtorque_jobs_failed_total{class="cancel"} 0',
      'vtorque_vms_running 0',
      'vtorque_gc_leaked_resources_total{kind="jobs"} 0',
      'vtorque_gc_leaked_resources_total{kind="domains"} 0',
      'vtorque_gc_leaked_resources_total{kind="files"} 0',
      'vtorque_gc_leaked_resources_total{kind="arp"} 0',
      'vtorque_gc_leaked_resources_total{kind="markers"} 0',
      'vtorque_metrics_last_update_timestamp_seconds 0',
      '',
    ]);
  });

  it('orders the engine\'s phases as a start records them (plan … nodefile), others after them by name', () => {
    const s = mergeEvent(emptyMetrics(), { kind: 'start', scheduler: 'Slurm', outcome: running([['nodefile', 0, 1], ['zeta', 0, 1], ['ssh', 0, 1], ['ip', 0, 1], ['alpha', 0, 1], ['plan', 0, 1]]) }, 0);
    const order = [...renderMetrics(s, 0).matchAll(/^vtorque_vm_phase_seconds_count\{phase="([^"]+)"\}/gm)].map((m) => m[1]);
    expect(order).toEqual(['plan', 'ip', 'ssh', 'nodefile', 'alpha', 'zeta']);
  });
});

describe('merging one event into the state (pure)', () => {
  it('a running start counts its scheduler (lowercased) and observes every phase; buckets are cumulative and a bound is inclusive', () => {
    const before = emptyMetrics();
    const once = mergeEvent(before, { kind: 'start', scheduler: 'Slurm', outcome: running([['boot', 0, 4000], ['ip', 4000, 4500]]) }, 2);
    const twice = mergeEvent(once, { kind: 'start', scheduler: 'Slurm', outcome: running([['boot', 0, 45_000], ['ip', 0, 301_000]]) }, 4);
    expect(before).toEqual(emptyMetrics()); // not changed in place
    expect(once.phases.boot?.buckets).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    expect(twice.started).toEqual({ slurm: 2 });
    expect(twice.failed).toEqual({ job: 0, node: 0, cancel: 0 });
    expect(twice.phases.boot).toEqual({ buckets: [0, 0, 0, 1, 1, 1, 1, 2, 2, 2], count: 2, sumMs: 49_000 });
    // 0.5 s exactly is in le="0.5"; 301 s only in +Inf (the count).
    expect(twice.phases.ip).toEqual({ buckets: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], count: 2, sumMs: 301_500 });
    expect(twice.vmsRunning).toBe(4);
    expect(v.safeParse(MetricsStateV1Schema, JSON.parse(JSON.stringify(twice))).success).toBe(true);
  });

  it('a failed start counts its fault only, and the reap that ran before it as gc', () => {
    const s = mergeEvent(emptyMetrics(), { kind: 'start', scheduler: 'Torque', outcome: { kind: 'failed', fault: 'cancel', reason: 'cancelled' }, reaped: [reap([[1, 3, 0, null]], 1)] }, 0);
    expect(s.started).toEqual({});
    expect(s.failed).toEqual({ job: 0, node: 0, cancel: 1 });
    expect(s.phases).toEqual({});
    expect(s.gc).toEqual({ jobs: 1, domains: 1, files: 3, arp: 0, markers: 1 });
  });

  it('gc counts what was reaped (a job whose reap failed counts nothing); a stop only sets the gauge', () => {
    const g = mergeEvent(emptyMetrics(), { kind: 'gc', reaped: reap([[2, 7, 2, null], [3, 9, 1, 'failed'], [0, 1, 0, null]], 0) }, 5);
    expect(g.gc).toEqual({ jobs: 2, domains: 2, files: 8, arp: 2, markers: 0 });
    const st = mergeEvent(g, { kind: 'stop' }, 1);
    expect(st).toEqual({ ...g, vmsRunning: 1 });
  });

  it('scheduler and phase names become safe label values, and their number is bounded', () => {
    expect(schedulerLabel('Torque')).toBe('torque');
    expect(schedulerLabel('My "Sched"\n')).toBe('my_sched_');
    expect(schedulerLabel('')).toBe('other');
    const odd = mergeEvent(emptyMetrics(), { kind: 'start', scheduler: 'constructor', outcome: running([['constructor', 0, 1]]) }, 0);
    expect(odd.started).toEqual({ constructor: 1 });
    expect(v.safeParse(MetricsStateV1Schema, JSON.parse(JSON.stringify(odd))).success).toBe(true);
    let s = emptyMetrics();
    for (let i = 0; i < 20; i++) s = mergeEvent(s, { kind: 'start', scheduler: `s${i}`, outcome: running([[`p${i}`, 0, 1], ['Bad Phase', 0, 1]]) }, 0);
    expect(Object.keys(s.started)).toHaveLength(17);
    expect(s.started.other).toBe(4);
    expect(Object.keys(s.phases)).toHaveLength(16);
    expect(v.safeParse(MetricsStateV1Schema, s).success).toBe(true);
  });

  it('the state schema refuses another version, other buckets and non-cumulative counts', () => {
    const ok: MetricsStateV1 = mergeEvent(emptyMetrics(), { kind: 'start', scheduler: 'torque', outcome: running([['boot', 0, 3000]]) }, 0);
    expect(v.safeParse(MetricsStateV1Schema, ok).success).toBe(true);
    expect(v.safeParse(MetricsStateV1Schema, { ...ok, version: 2 }).success).toBe(false);
    expect(v.safeParse(MetricsStateV1Schema, { ...ok, le: [1, 2, 3] }).success).toBe(false);
    expect(v.safeParse(MetricsStateV1Schema, { ...ok, le: PHASE_BUCKETS.map((b) => b * 2) }).success).toBe(false);
    expect(v.safeParse(MetricsStateV1Schema, { ...ok, phases: { boot: { buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], count: 1, sumMs: 1 } } }).success).toBe(false);
    expect(v.safeParse(MetricsStateV1Schema, { ...ok, phases: { boot: { buckets: [1, 1, 1, 1, 1, 1, 1, 1, 1, 2], count: 1, sumMs: 1 } } }).success).toBe(false);
    expect(v.safeParse(MetricsStateV1Schema, { ...ok, extra: 1 }).success).toBe(false);
  });
});

// ------------------------------------------------------------------------------------------------
// Files, lock and wiring: root (the spool and the metrics directory must be root's) and flock.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
interface Site {
  readonly root: string;
  readonly promDir: string;
  readonly config: SiteConfig;
}
function site(over: Partial<SiteConfig> = {}): Site {
  const root = mkdtempSync(join(tmpdir(), 'vtq-metrics-'));
  dirs.push(root);
  const promDir = join(root, 'node-exporter');
  for (const d of ['spool', 'node-exporter', 'pool']) mkdirSync(join(root, d), { mode: 0o755 });
  return { root, promDir, config: { ...defaultConfig(), SPOOL_DIR: join(root, 'spool'), VM_IMG_DIR: join(root, 'pool'), RAMDISK_DIR: join(root, 'ramdisk'), METRICS_FILE: join(promDir, 'vtorque.prom'), ...over } };
}
function recordingLog(): { info: () => void; warn: (f: Record<string, unknown>, m: string) => void; warnings: string[] } {
  const warnings: string[] = [];
  return { info: () => undefined, warn: (f, m) => void warnings.push(`${m}: ${String(f.err)}`), warnings };
}
const sample = (text: string, line: string): number | undefined => {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? undefined : Number(hit.slice(line.length + 1));
};
const started = (outcome: StartOutcome = running([['plan', 0, 10], ['boot', 10, 1500]])) => ({ kind: 'start', scheduler: 'Torque', outcome }) as const;

describe.skipIf(process.getuid?.() !== 0)('the metrics file on a node (root)', () => {
  it('keeps counts across runs in SPOOL_DIR and replaces the .prom file atomically (temp + rename in its directory), 0644', async () => {
    const s = site();
    const log = recordingLog();
    await recordMetrics(s.config, log, started(), { now: () => 1_000 });
    const first = statSync(s.config.METRICS_FILE);
    await recordMetrics(s.config, log, started(), { now: () => 2_000 });
    // A new file renamed over the old one, never rewritten in place (made while the old one still held its inode).
    expect(statSync(s.config.METRICS_FILE).ino).not.toBe(first.ino);
    await recordMetrics(s.config, log, { kind: 'start', scheduler: 'Torque', outcome: { kind: 'failed', fault: 'job', reason: 'no' } }, { now: () => 3_000 });
    expect(log.warnings).toEqual([]);
    const text = readFileSync(s.config.METRICS_FILE, 'utf8');
    expect(sample(text, 'vtorque_jobs_started_total{scheduler="torque"}')).toBe(2);
    expect(sample(text, 'vtorque_jobs_failed_total{class="job"}')).toBe(1);
    expect(sample(text, 'vtorque_vm_phase_seconds_bucket{phase="boot",le="2"}')).toBe(2);
    expect(sample(text, 'vtorque_vm_phase_seconds_sum{phase="boot"}')).toBe(2.98);
    expect(sample(text, 'vtorque_metrics_last_update_timestamp_seconds')).toBe(3);
    const now = statSync(s.config.METRICS_FILE);
    expect(now.mode & 0o7777).toBe(0o644);
    expect(now.uid).toBe(0);
    expect(readdirSync(s.promDir)).toEqual(['vtorque.prom']); // no temporary left beside it
    const state = statSync(join(s.config.SPOOL_DIR, METRICS_STATE_FILE));
    expect(state.mode & 0o7777).toBe(0o600);
    const parsed = v.parse(MetricsStateV1Schema, JSON.parse(readFileSync(join(s.config.SPOOL_DIR, METRICS_STATE_FILE), 'utf8')));
    expect(parsed.started).toEqual({ torque: 2 });
  });

  it('does nothing at all with METRICS_FILE ""', async () => {
    const s = site({ METRICS_FILE: '' });
    await recordMetrics(s.config, recordingLog(), started());
    expect(readdirSync(s.config.SPOOL_DIR)).toEqual([]);
  });

  it('a missing or foreign METRICS_FILE directory only logs a warning; the counts go on', async () => {
    const s = site();
    const missing = { ...s.config, METRICS_FILE: join(s.root, 'nope', 'vtorque.prom') };
    const log = recordingLog();
    await expect(recordMetrics(missing, log, started())).resolves.toBeUndefined();
    expect(log.warnings).toHaveLength(1);
    expect(log.warnings[0]).toMatch(/updating the metrics failed.*nope.*parent directory does not exist/);
    // A directory node_exporter's user (or anyone but root) could change: never written into.
    chownSync(s.promDir, 65534, 65534);
    await recordMetrics(s.config, log, started());
    expect(log.warnings).toHaveLength(2);
    expect(log.warnings[1]).toMatch(/owned by uid 65534/);
    expect(existsSync(s.config.METRICS_FILE)).toBe(false);
    chownSync(s.promDir, 0, 0);
    await recordMetrics(s.config, log, started());
    expect(sample(readFileSync(s.config.METRICS_FILE, 'utf8'), 'vtorque_jobs_started_total{scheduler="torque"}')).toBe(3);
  });

  it('a SPOOL_DIR that is missing or not root\'s alone only logs a warning', async () => {
    const s = site();
    const log = recordingLog();
    await recordMetrics({ ...s.config, SPOOL_DIR: join(s.root, 'none') }, log, started());
    chownSync(s.config.SPOOL_DIR, 65534, 65534);
    await recordMetrics(s.config, log, started());
    expect(log.warnings).toEqual([expect.stringMatching(/none does not exist yet/), expect.stringMatching(/owned by uid 65534/)]);
    expect(readdirSync(s.config.SPOOL_DIR)).toEqual([]);
  });

  it('a state it cannot read starts the counts again, with a warning', async () => {
    const s = site();
    const log = recordingLog();
    writeFileSync(join(s.config.SPOOL_DIR, METRICS_STATE_FILE), '{"version":9}\n', { mode: 0o600 });
    await recordMetrics(s.config, log, started());
    expect(log.warnings).toEqual([expect.stringMatching(/not version 1/)]);
    expect(sample(readFileSync(s.config.METRICS_FILE, 'utf8'), 'vtorque_jobs_started_total{scheduler="torque"}')).toBe(1);
  });

  it('waits for the lock a bounded time only, then gives this update up with a warning', async () => {
    const s = site();
    const log = recordingLog();
    const held = await acquireNodeLock(join(s.config.SPOOL_DIR, METRICS_LOCK_FILE), { timeoutMs: 1000 });
    try {
      const t0 = performance.now();
      await recordMetrics(s.config, log, started(), { deadlineAt: Date.now() + 60_000 });
      expect(performance.now() - t0).toBeLessThan(2500);
      // Past the hook's deadline the wait is shorter still.
      const t1 = performance.now();
      await recordMetrics(s.config, log, started(), { deadlineAt: Date.now() - 1 });
      expect(performance.now() - t1).toBeLessThan(1500);
    } finally {
      await held.release();
    }
    expect(log.warnings).toHaveLength(2);
    expect(log.warnings[0]).toMatch(/metrics[. ]lock/);
    expect(existsSync(s.config.METRICS_FILE)).toBe(false);
    // The lock a late acquisition got was let go: the next update takes it at once.
    await recordMetrics(s.config, log, started());
    expect(log.warnings).toHaveLength(2);
  });

  it('counts the VMs of this node that root\'s records name (a head\'s record names its sisters\' VMs too)', () => {
    const s = site();
    const record = (jobId: string, node: string, vms: string[]): JobRecordV1 => ({ version: 1, jobId, owner: { user: 'u', uid: 1000 }, node, keepLogs: false, componentStops: [], vms, ramdisk: null, qemuUid: null, createdMs: 0 });
    expect(countRecordedVms(s.config)).toBe(0);
    writeJobRecord(s.config, record('1.srv', 'n1', [domainName('1.srv', 'n1', 0), domainName('1.srv', 'n1', 1), domainName('1.srv', 'n1-2', 0), domainName('1.srv', 'n2', 0)]));
    writeJobRecord(s.config, record('2[3].srv', 'n1', [domainName('2[3].srv', 'n1', 0)]));
    writeJobRecord(s.config, record('3.srv', '', []));
    writeFileSync(join(s.config.SPOOL_DIR, 'records', 'broken.json'), '{', { mode: 0o600 });
    expect(countRecordedVms(s.config)).toBe(3);
  });
});

const request: VmRequest = {
  version: 1, img: 'not-in-the-pool.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 256, vms_per_node: 1,
  vcpu_pinning: false, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

describe.skipIf(process.getuid?.() !== 0)('the lifecycle keeps the metrics (root, no libvirt)', () => {
  it('after a start that failed and after a stop on this node', async () => {
    const s = site();
    const log = recordingLog();
    const job: JobContext = {
      jobId: '51.srv', owner: { user: 'nobody', uid: 65534, gid: 65534, group: 'nogroup', home: '/nonexistent' }, request, requestSource: 'test', script: '#!/bin/sh\n',
      allocation: [{ name: 'n1', slots: 4, memory: { mib: 4096, basis: 'mem' } }], deadlineAt: Date.now() + 60_000,
      scheduler: { name: 'Slurm', submit: 'vsbatch' }, guestEnv: () => ({}), isActive: () => true,
    };
    const out = await startJob(job, { config: s.config, layout: {} as never, log, say: () => undefined });
    expect(out).toMatchObject({ kind: 'failed', fault: 'job' });
    expect(log.warnings.filter((w) => w.startsWith('updating the metrics'))).toEqual([]);
    let text = readFileSync(s.config.METRICS_FILE, 'utf8');
    expect(sample(text, 'vtorque_jobs_failed_total{class="job"}')).toBe(1);
    expect(text).not.toMatch(/scheduler=/);

    // A record naming no VM (what a refused start leaves for its owner) is stopped without libvirt.
    writeJobRecord(s.config, { version: 1, jobId: '52.srv', owner: { user: 'nobody', uid: 65534 }, node: '', keepLogs: false, componentStops: [], vms: [], ramdisk: null, qemuUid: null, createdMs: 0 });
    const before = sample(text, 'vtorque_metrics_last_update_timestamp_seconds') as number;
    await new Promise((r) => setTimeout(r, 20));
    expect(await stopJobHere('52.srv', { config: s.config, layout: {} as never, log, deadlineAt: Date.now() + 30_000 })).toMatchObject({ kind: 'stopped', error: null });
    text = readFileSync(s.config.METRICS_FILE, 'utf8');
    expect(sample(text, 'vtorque_metrics_last_update_timestamp_seconds')).toBeGreaterThan(before);
    expect(sample(text, 'vtorque_vms_running')).toBe(0);
    expect(sample(text, 'vtorque_jobs_failed_total{class="job"}')).toBe(1);
    // A job that is not a VM job here leaves the metrics alone.
    const mtime = statSync(s.config.METRICS_FILE).mtimeMs;
    expect(await stopJobHere('53.srv', { config: s.config, layout: {} as never, log })).toEqual({ kind: 'not-a-vm-job' });
    expect(statSync(s.config.METRICS_FILE).mtimeMs).toBe(mtime);
  });

  it('after gc (libvirt\'s in-process test driver), not after a dry run', async () => {
    const s = site({ LIBVIRT_URI: 'test:///default', HYPERVISOR: 'qemu', QEMU_USER: 'libvirt' });
    const log = recordingLog();
    writeJobRecord(s.config, { version: 1, jobId: '61.srv', owner: { user: 'nobody', uid: 65534 }, node: '', keepLogs: false, componentStops: [], vms: [], ramdisk: null, qemuUid: null, createdMs: 0 });
    const layout = layoutAt(new URL('../..', import.meta.url).pathname.replace(/\/$/, ''));
    expect((await collectGarbage(s.config, layout, log, { isActive: () => false, dryRun: true })).jobs).toHaveLength(1);
    expect(existsSync(s.config.METRICS_FILE)).toBe(false);
    const reaped = await collectGarbage(s.config, layout, log, { isActive: () => false });
    expect(reaped.jobs).toMatchObject([{ job: '61.srv', error: null }]);
    const text = readFileSync(s.config.METRICS_FILE, 'utf8');
    expect(sample(text, 'vtorque_gc_leaked_resources_total{kind="jobs"}')).toBe(1);
    expect(sample(text, 'vtorque_vms_running')).toBe(0);
  });
});
