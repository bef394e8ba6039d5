import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { run } from '../../core/exec/run.js';
import type { EngineLog } from '../libvirt/index.js';

export interface ArpEntry {
  readonly ip: string;
  /** Lower case, colon separated. */
  readonly mac: string;
  readonly dev: string;
  /** The kernel's flags field as printed, e.g. '0x2' (ATF_COM); incomplete entries (0x0) are dropped. */
  readonly flags: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The kernel's IPv4 neighbour table as /proc/net/arp prints it:
 * `IP address  HW type  Flags  HW address  Mask  Device`, one entry a line after the header.
 * Incomplete entries (flags 0x0, or an all-zero address) and malformed lines are skipped.
 */
export function parseProcNetArp(text: string): ArpEntry[] {
  const entries: ArpEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [ip, , flags, hw, , dev] = line.trim().split(/\s+/);
    if (ip === undefined || flags === undefined || hw === undefined || dev === undefined) continue;
    const mac = hw.toLowerCase();
    const bits = Number.parseInt(flags, 16);
    if (!isIPv4(ip) || !MAC.test(mac) || mac === '00:00:00:00:00:00' || !(bits & 0x2)) continue;
    entries.push({ ip, mac, dev, flags });
  }
  return entries;
}

export function readProcNetArp(): Promise<string> {
  return readFile('/proc/net/arp', 'utf8');
}

/** Addresses the neighbour table holds for these MACs (a VM's IP when no record of it was kept). */
export async function ipsOfMacs(macs: readonly string[], read: () => Promise<string> = readProcNetArp): Promise<string[]> {
  if (macs.length === 0) return [];
  const wanted = new Set(macs.map((m) => m.toLowerCase()));
  return [...new Set(parseProcNetArp(await read()).filter((e) => wanted.has(e.mac)).map((e) => e.ip))].sort();
}

/** `mac ip` for every complete entry of these MACs: the pairs a wait must not take for this boot's. */
export async function neighbourPairs(macs: readonly string[], read: () => Promise<string> = readProcNetArp): Promise<Set<string>> {
  if (macs.length === 0) return new Set();
  const wanted = new Set(macs.map((m) => m.toLowerCase()));
  return new Set(parseProcNetArp(await read()).filter((e) => wanted.has(e.mac)).map((e) => `${e.mac} ${e.ip}`));
}

/**
 * Before a boot: remove the neighbour entries these MACs already have (an earlier boot's, the
 * same MAC on a requeued or repeated start), so an entry seen after the start is this boot's.
 * Returns the `mac ip` pairs still there (not removable): the wait ignores them until they vanish.
 */
export async function forgetNeighboursOf(macs: readonly string[], opts: ForgetArpOptions = {}): Promise<{ removed: string[]; stale: Set<string> }> {
  const read = opts.read ?? readProcNetArp;
  const before = await neighbourPairs(macs, read);
  if (before.size === 0) return { removed: [], stale: before };
  const removed = await forgetArp([...before].map((p) => p.split(' ')[1] as string), { ...opts, read });
  return { removed, stale: await neighbourPairs(macs, read) };
}

export interface ForgetArpOptions {
  /** Interface of the entries; default: looked up per IP in /proc/net/arp (entries not there are skipped). */
  readonly dev?: string;
  readonly read?: () => Promise<string>;
  readonly log?: EngineLog;
  /** The `ip` program (tests pass a stub). */
  readonly ipBin?: string;
}

/**
 * Remove the neighbour entries our VMs caused (`ip neigh del IP dev DEV`), so a later job reusing
 * an address does not see a stale MAC. Entries already gone are fine. Returns the IPs removed.
 */
export async function forgetArp(ips: readonly string[], opts: ForgetArpOptions = {}): Promise<string[]> {
  const valid = ips.filter((ip) => isIPv4(ip));
  let devOf: (ip: string) => string | undefined = () => opts.dev;
  if (opts.dev === undefined) {
    const table = parseArpAll(await (opts.read ?? readProcNetArp)());
    devOf = (ip) => table.get(ip);
  }
  const removed: string[] = [];
  const failed: string[] = [];
  await Promise.all(
    valid.map(async (ip) => {
      const dev = devOf(ip);
      if (dev === undefined) return;
      const r = await run(opts.ipBin ?? 'ip', ['neigh', 'del', ip, 'dev', dev], { reject: false, timeoutMs: 5000 });
      if (r.exitCode === 0) removed.push(ip);
      else if (!/no such|cannot find/i.test(r.stderr)) failed.push(`${ip} dev ${dev}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
    }),
  );
  if (failed.length > 0) opts.log?.warn({ phase: 'teardown', failed }, 'could not remove some ARP entries');
  return removed.sort();
}

/** IP → device for every line of the table, incomplete entries included (they should go too). */
function parseArpAll(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const parts = line.trim().split(/\s+/);
    const ip = parts[0];
    const dev = parts[5];
    if (ip !== undefined && dev !== undefined && isIPv4(ip) && /^[A-Za-z0-9_.:@-]{1,15}$/.test(dev)) map.set(ip, dev);
  }
  return map;
}
