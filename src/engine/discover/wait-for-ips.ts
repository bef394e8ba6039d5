import { isIPv4 } from 'node:net';
import { VtorqueError } from '../../core/errors.js';
import type { EngineLog } from '../libvirt/index.js';
import { pause } from './pause.js';
import { parseProcNetArp, readProcNetArp } from './arp.js';
import type { Candidate } from './leases.js';

export interface WaitForIpsOptions {
  /** One read of the neighbour table per round (default: /proc/net/arp). */
  readonly read?: () => Promise<string>;
  readonly intervalMs?: number;
  /** The hard limit, from the call: what is left of the start's overall deadline. */
  readonly deadlineMs: number;
  /** A slower source (DHCP leases), asked every `fallbackEveryMs` for the MACs still missing. */
  readonly fallback?: (mac: string) => Promise<readonly Candidate[]>;
  readonly fallbackEveryMs?: number;
  readonly log: EngineLog;
  readonly signal?: AbortSignal;
  /** MAC → VM name, for messages. */
  readonly names?: ReadonlyMap<string, string>;
  /**
   * When this boot began (ms since the epoch): a lease learned before it is an earlier boot's and
   * never taken (one whose grant time cannot be told neither). Absent: every lease counts.
   */
  readonly since?: number;
  /** `mac ip` → ms since the epoch: for that address a later bound than `since` (it stopped answering then). */
  readonly notBefore?: ReadonlyMap<string, number>;
  /**
   * `mac ip` neighbour entries that were there before this boot began (not removable): ignored
   * until the entry has been seen gone, after which a new one is this boot's.
   */
  readonly stale?: ReadonlySet<string>;
  /** Why the VM of a MAC still without an address counts as dead (no sign of life for too long), or null. */
  readonly dead?: (mac: string) => string | null;
  /** Called once per MAC when its address is taken. */
  readonly onFound?: (mac: string, ip: string, source: 'arp' | 'lease') => void;
  /** More about a VM for the deadline message (what it showed of itself). */
  readonly detail?: (mac: string) => string;
}

/** Some guests got no address in time: the node's (its network, or a guest that did not come up). */
export class IpDiscoveryError extends VtorqueError {
  readonly missing: readonly string[];
  constructor(missing: readonly string[], names: ReadonlyMap<string, string> | undefined, waitedMs: number, why?: ReadonlyMap<string, string>) {
    const list = missing.map((mac) => `${names?.get(mac) ? `${names.get(mac)} (${mac})` : mac}${why?.get(mac) ? `: ${why.get(mac)}` : ''}`).join('; ');
    super('COMMAND_FAILED', `no IP address after ${waitedMs} ms for ${missing.length} VM(s): ${list}`, { fault: 'node' });
    this.missing = missing;
  }
}

/**
 * MAC (lower case) → IPv4 of this boot for every MAC, polling the neighbour table (one cheap read
 * per round for all MACs) and, every ~2 s (in the background), the fallback for those still
 * missing. Only what was learned after `since` counts: a neighbour entry not in `stale` (those were
 * removed before the start), a lease granted after it. A MAC seen with several fresh entries waits
 * for the fallback to settle it when there is one; otherwise the first is taken. Fails when the
 * hard deadline passes or `dead` says a VM without an address shows no more life.
 */
export async function waitForIps(macs: readonly string[], opts: WaitForIpsOptions): Promise<Map<string, string>> {
  const { read = readProcNetArp, intervalMs = 200, fallbackEveryMs = 2000, log } = opts;
  const started = performance.now();
  const waited = () => Math.round(performance.now() - started);
  const found = new Map<string, string>();
  const pending = new Set(macs.map((m) => m.toLowerCase()));
  const warned = new Set<string>();
  const names = new Map([...(opts.names ?? [])].map(([mac, name]) => [mac.toLowerCase(), name]));
  const stale = new Set([...(opts.stale ?? [])].map((p) => p.toLowerCase()));
  const notBefore = new Map([...(opts.notBefore ?? [])].map(([p, ms]) => [p.toLowerCase(), ms]));
  let nextFallback = fallbackEveryMs;
  let fallbackBusy = false;
  let done = false;
  for (;;) {
    if (opts.signal?.aborted) throw finish(opts.signal.reason);
    const seen = new Map<string, string[]>();
    const present = new Set<string>();
    for (const e of parseProcNetArp(await read())) {
      if (!pending.has(e.mac)) continue;
      const pair = `${e.mac} ${e.ip}`;
      present.add(pair);
      if (stale.has(pair)) {
        once(`stale ${pair}`, () => log.info({ phase: 'ip', vm: names.get(e.mac) ?? e.mac, mac: e.mac, ip: e.ip }, 'neighbour entry from before this boot ignored'));
        continue;
      }
      seen.set(e.mac, [...(seen.get(e.mac) ?? []), e.ip]);
    }
    // A stale entry seen gone: whatever comes back for it was learned after the start.
    for (const pair of stale) if (!present.has(pair)) stale.delete(pair);
    for (const [mac, ips] of seen) {
      if (ips.length > 1) once(`several ${mac}`, () => log.warn({ phase: 'ip', mac, ips }, 'several neighbour entries for one MAC'));
      if (ips.length === 1 || !opts.fallback) settle(mac, ips[0] as string, 'arp');
    }
    // The fallback (a virsh run) goes on beside the cheap ARP rounds, never more than one at a time.
    if (pending.size > 0 && opts.fallback && !fallbackBusy && waited() >= nextFallback) {
      fallbackBusy = true;
      void askFallback(opts.fallback, [...pending]).finally(() => {
        fallbackBusy = false;
        nextFallback = waited() + fallbackEveryMs;
      });
    }
    if (pending.size === 0) return finish(found);
    const dead = new Map<string, string>();
    for (const mac of pending) {
      const why = opts.dead?.(mac);
      if (why) dead.set(mac, why);
    }
    if (dead.size > 0) throw finish(new IpDiscoveryError([...dead.keys()], names, waited(), dead));
    if (waited() >= opts.deadlineMs) {
      const why = new Map([...pending].flatMap((mac) => (opts.detail ? [[mac, opts.detail(mac)] as const] : [])));
      throw finish(new IpDiscoveryError([...pending], names, waited(), why));
    }
    await pause(Math.min(intervalMs, Math.max(1, opts.deadlineMs - waited())), opts.signal).catch((err: unknown) => {
      throw finish(err);
    });
  }

  function finish<T>(value: T): T {
    done = true;
    return value;
  }

  function once(key: string, fn: () => void): void {
    if (warned.has(key) || done) return;
    warned.add(key);
    fn();
  }

  async function askFallback(fallback: (mac: string) => Promise<readonly Candidate[]>, macs: readonly string[]): Promise<void> {
    await Promise.all(
      macs.map(async (mac) => {
        const candidates = await fallback(mac).catch((err: unknown) => {
          if (!done) log.warn({ phase: 'ip', mac, err: (err as Error).message }, 'IP fallback lookup failed');
          return [];
        });
        // Newest first: the first lease of this boot wins.
        for (const c of candidates) {
          if (!isIPv4(c.ip)) continue;
          const bound = notBefore.get(`${mac} ${c.ip}`) ?? opts.since;
          // Grant times have whole seconds: a lease within the second before the bound still counts.
          if (bound === undefined || (c.learnedMs !== null && c.learnedMs > bound - 1000)) {
            settle(mac, c.ip, 'lease');
            return;
          }
          const granted = c.learnedMs === null ? 'unknown (infinite lease)' : new Date(c.learnedMs).toISOString();
          once(`lease ${mac} ${c.ip} ${c.learnedMs}`, () => log.info({ phase: 'ip', vm: names.get(mac) ?? mac, mac, ip: c.ip, granted, bound: new Date(bound).toISOString() }, 'DHCP lease from before this boot ignored'));
        }
      }),
    );
  }

  function settle(mac: string, ip: string, source: 'arp' | 'lease'): void {
    if (done || !pending.delete(mac)) return;
    found.set(mac, ip);
    log.info({ phase: 'ip', vm: names.get(mac) ?? mac, mac, ip, source, elapsedMs: waited() }, 'VM address found');
    opts.onFound?.(mac, ip, source);
  }
}
