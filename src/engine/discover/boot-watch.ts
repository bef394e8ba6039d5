import { lstatSync } from 'node:fs';

/** The wait a VM is in: for its address, for another VM's address (its own is known), for SSH, done. */
export type WatchState = 'ip' | 'found' | 'ssh' | 'ready';

export interface WatchedVm {
  readonly name: string;
  readonly node: string;
  readonly mac: string;
  /** The VM's console log (root's file in its VM directory); null: none to watch. */
  readonly consoleLog: string | null;
}

export interface BootWatchOptions {
  /** performance.now() when the VMs were started. */
  readonly startedMs: number;
  /** How long a VM may show no sign of life in a phase (see quietLimit); `ipTookMs` for the SSH phase. */
  readonly limit: (phase: 'ip' | 'ssh', ipTookMs: number | undefined) => { readonly ms: number; readonly why: string };
  readonly now?: () => number;
  /** Bytes in a console log, or null when there is none (default: lstat, never following a link). */
  readonly consoleSize?: (path: string) => number | null;
  /** The last reading of a VM's qemu CPU time (ms) and when it was taken (now()'s clock), or null: none. */
  readonly cpuTime?: (vm: string) => CpuSample | null;
  /** CPU time is judged over at least this long (several readings: one late answer makes no rate); default CPU_WINDOW_MS. */
  readonly cpuWindowMs?: number;
}

export interface CpuSample {
  readonly ms: number;
  readonly atMs: number;
}

/**
 * A qemu using at least this share of one host CPU is booting, silent console or not. A guest
 * booting on a host shared by a dozen others still gets more (6 TCG guests on 2 cores: a third
 * each); an idle or halted guest (no OS, network never up) stays far below (a timer tick now
 * and then), so a dead guest is not kept alive by its idle loop.
 */
export const CPU_BUSY_SHARE = 0.1;
/** The window CPU time is judged over (the head reads it every ~2 s). */
export const CPU_WINDOW_MS = 5000;

interface VmState {
  readonly vm: WatchedVm;
  state: WatchState;
  /** performance.now() of the last sign of life (the phase's start counts as one). */
  lastSignMs: number;
  lastSign: string;
  consoleBytes: number | null;
  /** Console bytes when the last progress line was written. */
  consoleAtLine: number;
  address: { ip: string; source: string } | null;
  ssh: string | null;
  foundMs: number | null;
  sshStartMs: number | null;
  readyMs: number | null;
  /** Why it counts as dead whatever it shows (its qemu stopped for good), or null. */
  killed: string | null;
  /** The latest CPU reading, the start of the window it is judged over, and the reading at the last progress line. */
  cpu: CpuSample | null;
  cpuBase: CpuSample | null;
  cpuAtLine: CpuSample | null;
  /** Readings taken before this (an earlier qemu of the VM, before it was started again) do not count. */
  cpuSince: number;
}

const kib = (n: number): string => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const busy = (from: CpuSample, to: CpuSample): boolean => to.ms - from.ms >= CPU_BUSY_SHARE * (to.atMs - from.atMs);

/** Bytes in a regular file, never following a link; null when there is none (a console log's size). */
export function lstatSize(path: string): number | null {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

/**
 * What each booting VM has shown of itself, and when it counts as dead: a VM is given up when
 * it has shown no sign of life (console output growing, its qemu busy computing, an address of
 * this boot, SSH getting further) for its phase's quiet limit. `poll()` reads the console logs
 * (one lstat each) and the latest CPU readings.
 */
export class BootWatch {
  private readonly vms = new Map<string, VmState>();
  private readonly now: () => number;
  private readonly consoleSize: (path: string) => number | null;
  private readonly cpuWindowMs: number;

  constructor(vms: readonly WatchedVm[], private readonly opts: BootWatchOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.consoleSize = opts.consoleSize ?? lstatSize;
    this.cpuWindowMs = opts.cpuWindowMs ?? CPU_WINDOW_MS;
    for (const vm of vms) {
      const mac = vm.mac.toLowerCase();
      this.vms.set(mac, { vm, state: 'ip', lastSignMs: opts.startedMs, lastSign: 'started', consoleBytes: null, consoleAtLine: 0, address: null, ssh: null, foundMs: null, sshStartMs: null, readyMs: null, killed: null, cpu: null, cpuBase: null, cpuAtLine: null, cpuSince: opts.startedMs });
    }
  }

  private get(mac: string): VmState {
    const s = this.vms.get(mac.toLowerCase());
    if (!s) throw new RangeError(`no VM with MAC ${mac} is watched`);
    return s;
  }

  private sign(s: VmState, what: string): void {
    s.lastSignMs = this.now();
    s.lastSign = what;
  }

  /** Read every console log and CPU reading; console growth, and a qemu busy over the CPU window, are signs of life. */
  poll(): void {
    for (const s of this.vms.values()) {
      if (s.state === 'ready') continue;
      this.pollCpu(s);
      // The console last: its growth is the primary sign, the one a dead VM's message names.
      if (s.vm.consoleLog === null) continue;
      const bytes = this.consoleSize(s.vm.consoleLog);
      if (bytes !== null && bytes > (s.consoleBytes ?? 0)) this.sign(s, `console grew to ${kib(bytes)}`);
      if (bytes !== null) s.consoleBytes = bytes;
    }
  }

  private pollCpu(s: VmState): void {
    const cpu = this.opts.cpuTime?.(s.vm.name) ?? null;
    if (cpu === null || cpu.atMs < s.cpuSince) {
      s.cpuBase = null; // not running (or an earlier qemu's): a window starts with the next reading
      return;
    }
    s.cpu = cpu;
    // A count that went down is another qemu's (started again): measure from it.
    if (s.cpuAtLine === null || cpu.ms < s.cpuAtLine.ms) s.cpuAtLine = cpu;
    if (s.cpuBase === null || cpu.ms < s.cpuBase.ms) s.cpuBase = cpu;
    if (cpu.atMs - s.cpuBase.atMs < this.cpuWindowMs) return;
    if (busy(s.cpuBase, cpu)) this.sign(s, `qemu busy: CPU +${sec(cpu.ms - s.cpuBase.ms)} in ${sec(cpu.atMs - s.cpuBase.atMs)}`);
    s.cpuBase = cpu;
  }

  /** Its address (of this boot) is known; it waits for the other VMs' before SSH. */
  found(mac: string, ip: string, source: string): void {
    const s = this.get(mac);
    s.address = { ip, source };
    s.foundMs = this.now();
    s.state = 'found';
    this.sign(s, `address ${ip} (${source})`);
  }

  /** Its SSH wait begins: the SSH phase's quiet clock starts. */
  beginSsh(mac: string): void {
    const s = this.get(mac);
    s.state = 'ssh';
    s.sshStartMs = this.now();
    this.sign(s, 'SSH wait begun');
  }

  /** An SSH attempt got further than any before. */
  sshProgress(mac: string, stage: string): void {
    const s = this.get(mac);
    s.ssh = stage;
    this.sign(s, `SSH: ${stage}`);
  }

  /** An SSH attempt logged in (the ready check may still say no): a sign of life every time. */
  sshLoggedIn(mac: string): void {
    this.sign(this.get(mac), 'SSH login');
  }

  /** The latest SSH attempt's outcome, shown in the progress line (not a sign of life by itself). */
  sshResult(mac: string, result: string): void {
    this.get(mac).ssh = result;
  }

  /** Its address stopped answering: back to finding one (a fresh quiet window for the new search). */
  lost(mac: string, why: string): void {
    const s = this.get(mac);
    s.state = 'ip';
    s.address = null;
    this.sign(s, why);
  }

  /**
   * Its domain was started again (its qemu had stopped): a fresh quiet window, and its console log
   * counts from nothing (libvirt truncates it on a start).
   */
  restarted(mac: string, why: string): void {
    const s = this.get(mac);
    s.consoleBytes = null;
    s.consoleAtLine = 0;
    // Its CPU time is a new qemu's, counted from its start.
    s.cpu = s.cpuBase = s.cpuAtLine = null;
    s.cpuSince = this.now();
    this.sign(s, why);
  }

  /** It counts as dead now, for `why`, whatever it shows later (the first reason stays). */
  kill(mac: string, why: string): void {
    const s = this.get(mac);
    s.killed ??= why;
  }

  ready(mac: string): void {
    const s = this.get(mac);
    s.state = 'ready';
    s.readyMs = this.now();
  }

  private limitOf(s: VmState): { ms: number; why: string } | null {
    if (s.state === 'ip') return this.opts.limit('ip', undefined);
    if (s.state === 'ssh') return this.opts.limit('ssh', s.foundMs === null ? undefined : s.foundMs - this.opts.startedMs);
    return null; // waiting for the others, or done: never dead for quietness
  }

  /** Why this VM counts as dead now (killed, or quiet longer than its limit), or null while it may still come up. */
  dead(mac: string): string | null {
    const s = this.get(mac);
    if (s.killed !== null && s.state !== 'ready') return s.killed;
    const limit = this.limitOf(s);
    if (limit === null) return null;
    const quiet = this.now() - s.lastSignMs;
    if (quiet < limit.ms) return null;
    return `no sign of life for ${sec(quiet)} (last: ${s.lastSign}; limit ${sec(limit.ms)} = ${limit.why})`;
  }

  /** The VMs still being waited for. */
  waiting(): WatchedVm[] {
    return [...this.vms.values()].filter((s) => s.state !== 'ready').map((s) => s.vm);
  }

  /** One progress line for a VM: phase, node, VM, time since start, and what it has shown. */
  line(mac: string): string {
    const s = this.get(mac);
    const now = this.now();
    const phase = s.state === 'ip' ? 'waiting for its address' : s.state === 'found' ? `address ${s.address?.ip} (${s.address?.source}), waiting for the other VMs' addresses` : s.state === 'ssh' ? `waiting for SSH at ${s.address?.ip}` : 'ready';
    const seen: string[] = [];
    if (s.consoleBytes !== null) {
      const grew = s.consoleBytes - s.consoleAtLine;
      seen.push(`console ${kib(s.consoleBytes)}${grew > 0 ? ` (+${kib(grew)})` : ' (no new output)'}`);
      s.consoleAtLine = s.consoleBytes;
    } else if (s.vm.consoleLog !== null) seen.push('no console output yet');
    if (s.cpu !== null && s.cpuAtLine !== null && s.cpu.atMs > s.cpuAtLine.atMs) {
      seen.push(`qemu ${busy(s.cpuAtLine, s.cpu) ? 'busy' : 'idle'}: CPU +${sec(s.cpu.ms - s.cpuAtLine.ms)}`);
      s.cpuAtLine = s.cpu;
    }
    if (s.address && s.state === 'ssh') seen.push(`address from ${s.address.source}`);
    if (s.ssh) seen.push(`SSH ${s.ssh}`);
    const limit = this.limitOf(s);
    const quiet = now - s.lastSignMs;
    const tail = limit ? `; last sign of life ${sec(quiet)} ago, gives up after ${sec(limit.ms)} without one` : '';
    return `${s.vm.node} ${s.vm.name}: ${phase}, ${sec(now - this.opts.startedMs)} since start; seen: ${seen.join(', ') || 'nothing yet'}${tail}`;
  }

  /** Measured for the record of this start: VM running → address, SSH wait → login (null until done). */
  times(mac: string): { ipMs: number; sshMs: number } | null {
    const s = this.get(mac);
    if (s.foundMs === null || s.sshStartMs === null || s.readyMs === null) return null;
    return { ipMs: Math.round(s.foundMs - this.opts.startedMs), sshMs: Math.round(s.readyMs - s.sshStartMs) };
  }
}
