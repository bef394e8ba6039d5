import { isIPv4 } from 'node:net';
import { run } from '../../core/exec/run.js';

export interface DhcpLease {
  /** When the lease ends, as virsh prints it, in ms since the epoch. */
  readonly expiresAt: number;
  readonly mac: string;
  readonly ip: string;
  readonly hostname: string | null;
}

/** An address a source offers for a MAC, with when it was learned (ms since the epoch; null: cannot be told). */
export interface Candidate {
  readonly ip: string;
  readonly learnedMs: number | null;
}

const ROW = /^\s*(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\s+([0-9a-fA-F:]{17})\s+(ipv4|ipv6)\s+(\S+)\s+(\S+)/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/**
 * The IPv4 rows of `virsh net-dhcp-leases` (Expiry Time, MAC address, Protocol, IP address/prefix,
 * Hostname, Client ID). virsh prints expiry times in its local time zone: `utc` when it ran with TZ=UTC.
 */
export function parseDhcpLeases(text: string, utc = false): DhcpLease[] {
  const leases: DhcpLease[] = [];
  for (const line of text.split('\n')) {
    const m = ROW.exec(line);
    if (!m || m[8] !== 'ipv4') continue;
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const ip = (m[9] ?? '').split('/')[0] ?? '';
    if (!isIPv4(ip)) continue;
    const hostname = m[10] === '-' || m[10] === undefined ? null : m[10];
    const expiresAt = utc ? Date.UTC(y, mo - 1, d, h, mi, s) : new Date(y, mo - 1, d, h, mi, s).getTime();
    leases.push({ expiresAt, mac: (m[7] ?? '').toLowerCase(), ip, hostname });
  }
  return leases;
}

/** The address of the newest lease of `mac` that has not expired at `now`, if any. */
export function currentLease(leases: readonly DhcpLease[], mac: string, now: number): string | null {
  const live = leases.filter((l) => l.mac === mac.toLowerCase() && l.expiresAt > now).sort((a, b) => b.expiresAt - a.expiresAt);
  return live[0]?.ip ?? null;
}

/** dnsmasq's own lease time, which libvirt leaves in place when the network names none. */
export const DNSMASQ_DEFAULT_LEASE_S = 3600;
const UNIT_S: Readonly<Record<string, number>> = { seconds: 1, minutes: 60, hours: 3600 };

const attr = (tag: string, name: string): string | undefined => new RegExp(`\\b${name}\\s*=\\s*['"]([^'"]*)['"]`).exec(tag)?.[1];
const ipNum = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

/** `<lease expiry='N' unit='U'/>` in seconds: null for expiry 0 (infinite, the grant time cannot be told); libvirt's unit defaults to minutes. */
function leaseSeconds(element: string): number | null | undefined {
  const lease = /<lease\b[^>]*>/.exec(element)?.[0];
  if (lease === undefined) return undefined;
  const expiry = Number(attr(lease, 'expiry'));
  const unit = UNIT_S[attr(lease, 'unit') ?? 'minutes'];
  if (!Number.isInteger(expiry) || expiry < 0 || unit === undefined) return undefined;
  return expiry === 0 ? null : expiry * unit;
}

/**
 * The lease time (seconds) dnsmasq gives `mac` at `ip` on a libvirt network, from its XML: the
 * `<host>` entry of the MAC, else the `<range>` holding the address, else dnsmasq's default
 * (libvirt passes no lease time then). Null: an infinite lease, whose grant time cannot be told.
 */
export function networkLeaseSeconds(xml: string, mac: string, ip: string): number | null {
  const m = mac.toLowerCase();
  for (const host of xml.match(/<host\b[^>]*?(\/>|>[\s\S]*?<\/host>)/g) ?? []) {
    const open = /<host\b[^>]*>/.exec(host)?.[0] ?? '';
    if ((attr(open, 'mac') ?? '').toLowerCase() !== m) continue;
    const s = leaseSeconds(host.slice(open.length));
    if (s !== undefined) return s;
  }
  if (isIPv4(ip)) {
    for (const range of xml.match(/<range\b[^>]*?(\/>|>[\s\S]*?<\/range>)/g) ?? []) {
      const open = /<range\b[^>]*>/.exec(range)?.[0] ?? '';
      const start = attr(open, 'start') ?? '';
      const end = attr(open, 'end') ?? '';
      if (!isIPv4(start) || !isIPv4(end) || ipNum(ip) < ipNum(start) || ipNum(ip) > ipNum(end)) continue;
      const s = leaseSeconds(range.slice(open.length));
      if (s !== undefined) return s;
    }
  }
  return DNSMASQ_DEFAULT_LEASE_S;
}

/**
 * The live (unexpired) leases of `mac` with when each was granted: dnsmasq's expiry minus the
 * network's lease time (a renewal counts as a grant). Newest first.
 */
export function leaseCandidates(leases: readonly DhcpLease[], mac: string, now: number, leaseSecondsOf: (ip: string) => number | null): Candidate[] {
  return leases
    .filter((l) => l.mac === mac.toLowerCase() && l.expiresAt > now)
    .sort((a, b) => b.expiresAt - a.expiresAt)
    .map((l) => {
      const s = leaseSecondsOf(l.ip);
      return { ip: l.ip, learnedMs: s === null ? null : l.expiresAt - s * 1000 };
    });
}

export interface LeaseLookupOptions {
  readonly virshBin?: string;
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

/**
 * A waitForIps fallback: the live DHCP leases of a MAC on a libvirt network with their grant
 * times, from `virsh -c URI net-dhcp-leases --network NET --mac MAC` (run with TZ=UTC, so no
 * daylight-saving hour is ambiguous) and the network's lease time (`net-dumpxml`, read once).
 */
export function leaseLookup(uri: string, network: string, opts: LeaseLookupOptions = {}): (mac: string) => Promise<Candidate[]> {
  const { virshBin = 'virsh', now = Date.now, timeoutMs = 10_000 } = opts;
  const env = { ...process.env, TZ: 'UTC' };
  let xml: Promise<string> | undefined;
  return async (mac) => {
    if (!MAC.test(mac)) return [];
    xml ??= run(virshBin, ['-c', uri, 'net-dumpxml', network], { timeoutMs, env }).then((r) => r.stdout);
    const netXml = await xml.catch((err: unknown) => {
      xml = undefined; // asked again next time
      throw err;
    });
    const r = await run(virshBin, ['-c', uri, 'net-dhcp-leases', '--network', network, '--mac', mac.toLowerCase()], { timeoutMs, env });
    return leaseCandidates(parseDhcpLeases(r.stdout, true), mac, now(), (ip) => networkLeaseSeconds(netXml, mac, ip));
  };
}
