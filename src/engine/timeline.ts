import { basename, join } from 'node:path';
import { readFileNoFollow, replaceFileAtomic } from '../core/fs/index.js';

/** Phase timings of one job's VMs, kept for the job's state dir and the bench. */
export interface PhaseMark {
  readonly phase: string;
  readonly startMs: number;
  readonly endMs: number;
}

export class Timeline {
  readonly marks: PhaseMark[] = [];
  private readonly origin: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.origin = now();
  }

  elapsedMs(): number {
    return Math.round(this.now() - this.origin);
  }

  async phase<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const startMs = this.elapsedMs();
    try {
      return await work();
    } finally {
      this.marks.push({ phase, startMs, endMs: this.elapsedMs() });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Measured boot phases: what the deadlines of the IP and SSH waits follow from.

/** In SPOOL_DIR: the phase times of the last successful starts on this node, per image and domain type. */
export const BOOT_TIMES_FILE = 'boot-times.json';
/** Starts kept per image; the measurement is their median. */
export const BOOT_SAMPLES_KEPT = 10;
const KEYS_KEPT = 32;
const DAY_MS = 86_400_000;

/** One successful start: VM running → address (ip), SSH wait begun → login (ssh); the slowest VM of the job. */
export interface BootSample {
  readonly ipMs: number;
  readonly sshMs: number;
  readonly atMs: number;
}

export interface MeasuredPhases {
  readonly ipMs: number;
  readonly sshMs: number;
  readonly samples: number;
}

/** Which starts are alike: the same image file booted with the same domain type (a KVM boot is not a TCG boot). */
export function bootTimesKey(baseImage: string, domainType: string, seed: 'fast' | 'cloud-init' = 'fast'): string {
  // A cloud-init start is ready only once cloud-init has finished, long after the login that
  // ends a vtorque-seed start: measured apart, or the fast start's SSH time limits the slow one.
  return `${domainType}:${basename(baseImage)}${seed === 'fast' ? '' : '+cloud-init'}`;
}

type Store = Record<string, BootSample[]>;

const isSample = (s: unknown): s is BootSample => {
  if (typeof s !== 'object' || s === null) return false;
  const r = s as Record<string, unknown>;
  return [r.ipMs, r.sshMs, r.atMs].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0) && (r.ipMs as number) < DAY_MS && (r.sshMs as number) < DAY_MS;
};

function readStore(spoolDir: string): Store {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileNoFollow(join(spoolDir, BOOT_TIMES_FILE), 256 << 10));
  } catch {
    return {}; // none yet, or unreadable: the waits fall back to TIMEOUT
  }
  const store: Store = {};
  if (typeof parsed !== 'object' || parsed === null || (parsed as { version?: unknown }).version !== 1) return store;
  const entries = (parsed as { entries?: unknown }).entries;
  if (typeof entries !== 'object' || entries === null) return store;
  for (const [key, list] of Object.entries(entries)) {
    if (Array.isArray(list)) store[key] = list.filter(isSample).slice(-BOOT_SAMPLES_KEPT);
  }
  return store;
}

/** The recorded starts of `key` on this node (none when there is no readable record). */
export function readBootTimes(spoolDir: string, key: string): BootSample[] {
  return readStore(spoolDir)[key] ?? [];
}

/** Add one successful start (the last BOOT_SAMPLES_KEPT per key stay, the 32 keys used last). Root's file, replaced atomically. */
export function recordBootTimes(spoolDir: string, key: string, sample: BootSample): void {
  const store = readStore(spoolDir);
  store[key] = [...(store[key] ?? []), sample].slice(-BOOT_SAMPLES_KEPT);
  const last = (k: string): number => Math.max(...(store[k] ?? []).map((s) => s.atMs));
  const keys = Object.keys(store).sort((a, b) => last(b) - last(a)).slice(0, KEYS_KEPT);
  const entries = Object.fromEntries(keys.map((k) => [k, store[k]]));
  replaceFileAtomic(join(spoolDir, BOOT_TIMES_FILE), `${JSON.stringify({ version: 1, entries })}\n`, 0o644);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** The median phase times of the recorded starts, or null when none is recorded. */
export function measuredPhases(samples: readonly BootSample[]): MeasuredPhases | null {
  if (samples.length === 0) return null;
  return { ipMs: median(samples.map((s) => s.ipMs)), sshMs: median(samples.map((s) => s.sshMs)), samples: samples.length };
}

export interface QuietLimitOptions {
  /** BOOT_HEADROOM. */
  readonly headroom: number;
  /** BOOT_MIN_WAIT in ms: the least a limit is. */
  readonly minMs: number;
  /** TIMEOUT in ms: the limit while this node has measured no start of the image. */
  readonly unmeasuredMs: number;
  /** SSH phase: how long this VM took to get its address (the boot's own pace). */
  readonly ipTookMs?: number;
}

export interface QuietLimit {
  readonly ms: number;
  /** How it was reached, for the progress lines and the error. */
  readonly why: string;
}

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * How long a VM may go without a sign of life (console output growing, a fresh lease or neighbour
 * entry, SSH getting further) in a wait phase before it counts as dead:
 *
 *   limit = max(BOOT_MIN_WAIT, BOOT_HEADROOM × pace × measured phase time)
 *
 * where the measured phase time is the median of this node's last successful starts of the same
 * image (VM running → address for `ip`, SSH wait → login for `ssh`), and pace (SSH phase only) is
 * how much slower this boot reached its address than measured, never below 1. No start measured
 * yet: TIMEOUT. A quiet stretch inside a phase is never longer than the phase, so a healthy boot
 * on a node up to BOOT_HEADROOM times slower than measured always shows life within the limit.
 */
export function quietLimit(phase: 'ip' | 'ssh', measured: MeasuredPhases | null, o: QuietLimitOptions): QuietLimit {
  if (measured === null) return { ms: o.unmeasuredMs, why: `TIMEOUT ${sec(o.unmeasuredMs)}: no start of this image measured on this node yet` };
  const base = phase === 'ip' ? measured.ipMs : measured.sshMs;
  const pace = phase === 'ssh' && o.ipTookMs !== undefined && measured.ipMs > 0 ? Math.max(1, o.ipTookMs / measured.ipMs) : 1;
  const ms = Math.max(o.minMs, Math.round(o.headroom * pace * base));
  const paced = pace > 1 ? ` x pace ${pace.toFixed(2)}` : '';
  const floor = ms === o.minMs && o.headroom * pace * base < o.minMs ? `, at least BOOT_MIN_WAIT ${sec(o.minMs)}` : '';
  return { ms, why: `${o.headroom} x ${sec(base)} measured (median of ${measured.samples} start(s) here)${paced}${floor}` };
}
