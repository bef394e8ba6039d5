import { isIPv4 } from 'node:net';
import { VtorqueError } from '../../core/errors.js';
import type { EngineLog } from '../libvirt/index.js';
import { pause } from './pause.js';
import { parseProcNetArp, readProcNetArp } from './arp.js';

export interface WaitForIpsOptions {
  /** One read of the neighbour table per round (default: /proc/net/arp). */
  readonly read?: () => Promise<string>;
  readonly intervalMs?: number;
  readonly deadlineMs: number;
  /** A slower source (DHCP leases), asked every `fallbackEveryMs` for the MACs still missing. */
  readonly fallback?: (mac: string) => Promise<string | null>;
  readonly fallbackEveryMs?: number;
  readonly log: EngineLog;
  readonly signal?: AbortSignal;
  /** MAC → VM name, for messages. */
  readonly names?: ReadonlyMap<string, string>;
}

/** Some guests got no address in time: the node's (its network, or a guest that did not come up). */
export class IpDiscoveryError extends VtorqueError {
  readonly missing: readonly string[];
  constructor(missing: readonly string[], names: ReadonlyMap<string, string> | undefined, waitedMs: number) {
    const list = missing.map((mac) => (names?.get(mac) ? `${names.get(mac)} (${mac})` : mac)).join(', ');
    super('COMMAND_FAILED', `no IP address after ${waitedMs} ms for ${missing.length} VM(s): ${list}`, { fault: 'node' });
    this.missing = missing;
  }
}

/**
 * MAC (lower case) → IPv4 for every MAC, polling the neighbour table (one cheap read per round for all MACs)
 * and, every ~2 s (in the background), the fallback for those still missing. A MAC seen with several IPs (stale
 * entries) waits for the fallback to settle it when there is one; otherwise the first is taken.
 */
export async function waitForIps(macs: readonly string[], opts: WaitForIpsOptions): Promise<Map<string, string>> {
  const { read = readProcNetArp, intervalMs = 200, fallbackEveryMs = 2000, log } = opts;
  const started = performance.now();
  const waited = () => Math.round(performance.now() - started);
  const found = new Map<string, string>();
  const pending = new Set(macs.map((m) => m.toLowerCase()));
  const warned = new Set<string>();
  const names = new Map([...(opts.names ?? [])].map(([mac, name]) => [mac.toLowerCase(), name]));
  let nextFallback = fallbackEveryMs;
  let fallbackBusy = false;
  let done = false;
  for (;;) {
    if (opts.signal?.aborted) throw finish(opts.signal.reason);
    const seen = new Map<string, string[]>();
    for (const e of parseProcNetArp(await read())) if (pending.has(e.mac)) seen.set(e.mac, [...(seen.get(e.mac) ?? []), e.ip]);
    for (const [mac, ips] of seen) {
      if (ips.length > 1 && !warned.has(mac)) {
        warned.add(mac);
        log.warn({ phase: 'ip', mac, ips }, 'several neighbour entries for one MAC');
      }
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
    if (waited() >= opts.deadlineMs) throw finish(new IpDiscoveryError([...pending], names, waited()));
    await pause(Math.min(intervalMs, Math.max(1, opts.deadlineMs - waited())), opts.signal).catch((err: unknown) => {
      throw finish(err);
    });
  }

  function finish<T>(value: T): T {
    done = true;
    return value;
  }

  async function askFallback(fallback: (mac: string) => Promise<string | null>, macs: readonly string[]): Promise<void> {
    await Promise.all(
      macs.map(async (mac) => {
        const ip = await fallback(mac).catch((err: unknown) => {
          if (!done) log.warn({ phase: 'ip', mac, err: (err as Error).message }, 'IP fallback lookup failed');
          return null;
        });
        if (ip && isIPv4(ip)) settle(mac, ip, 'fallback');
      }),
    );
  }

  function settle(mac: string, ip: string, source: string): void {
    if (done || !pending.delete(mac)) return;
    found.set(mac, ip);
    log.info({ phase: 'ip', vm: names.get(mac) ?? mac, mac, ip, source, elapsedMs: waited() }, 'VM address found');
  }
}
