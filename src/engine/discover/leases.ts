import { isIPv4 } from 'node:net';
import { run } from '../../core/exec/run.js';

export interface DhcpLease {
  /** Local time the lease ends, as virsh prints it, in ms since the epoch. */
  readonly expiresAt: number;
  readonly mac: string;
  readonly ip: string;
  readonly hostname: string | null;
}

const ROW = /^\s*(\d{4})-(\d{2})-(\d{2})\s+(\d{2}):(\d{2}):(\d{2})\s+([0-9a-fA-F:]{17})\s+(ipv4|ipv6)\s+(\S+)\s+(\S+)/;

/**
 * The IPv4 rows of `virsh net-dhcp-leases` (Expiry Time, MAC address, Protocol, IP address/prefix,
 * Hostname, Client ID). Expiry times are local time, as libvirt prints them.
 */
export function parseDhcpLeases(text: string): DhcpLease[] {
  const leases: DhcpLease[] = [];
  for (const line of text.split('\n')) {
    const m = ROW.exec(line);
    if (!m || m[8] !== 'ipv4') continue;
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const ip = (m[9] ?? '').split('/')[0] ?? '';
    if (!isIPv4(ip)) continue;
    const hostname = m[10] === '-' || m[10] === undefined ? null : m[10];
    leases.push({ expiresAt: new Date(y, mo - 1, d, h, mi, s).getTime(), mac: (m[7] ?? '').toLowerCase(), ip, hostname });
  }
  return leases;
}

/** The address of the newest lease of `mac` that has not expired at `now`, if any. */
export function currentLease(leases: readonly DhcpLease[], mac: string, now: number): string | null {
  const live = leases.filter((l) => l.mac === mac.toLowerCase() && l.expiresAt > now).sort((a, b) => b.expiresAt - a.expiresAt);
  return live[0]?.ip ?? null;
}

export interface LeaseLookupOptions {
  readonly virshBin?: string;
  readonly now?: () => number;
  readonly timeoutMs?: number;
}

/**
 * A waitForIps fallback: the DHCP lease of a MAC on a libvirt network, from
 * `virsh -c URI net-dhcp-leases --network NET --mac MAC` (expired leases ignored).
 */
export function leaseLookup(uri: string, network: string, opts: LeaseLookupOptions = {}): (mac: string) => Promise<string | null> {
  const { virshBin = 'virsh', now = Date.now, timeoutMs = 10_000 } = opts;
  return async (mac) => {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) return null;
    const r = await run(virshBin, ['-c', uri, 'net-dhcp-leases', '--network', network, '--mac', mac.toLowerCase()], { timeoutMs });
    return currentLease(parseDhcpLeases(r.stdout), mac, now());
  };
}
