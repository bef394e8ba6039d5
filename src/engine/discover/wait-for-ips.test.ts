import { describe, expect, it, vi } from 'vitest';
import type { EngineLog } from '../libvirt/index.js';
import { IpDiscoveryError, waitForIps } from './wait-for-ips.js';

const HEADER = 'IP address       HW type     Flags       HW address            Mask     Device\n';
const row = (ip: string, mac: string, flags = '0x2') => `${ip}   0x1   ${flags}   ${mac}   *   virbr0\n`;
const log: EngineLog = { info: () => undefined, warn: () => undefined };
const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

describe('waitForIps', () => {
  it('polls one read per round for all MACs; the IP shows up on the 3rd read', async () => {
    let reads = 0;
    const read = vi.fn(async () => {
      reads++;
      return HEADER + row('192.168.1.20', B) + (reads >= 3 ? row('192.168.1.10', A) : row('192.168.1.10', '00:00:00:00:00:00', '0x0'));
    });
    const ips = await waitForIps([A.toUpperCase(), B], { read, intervalMs: 5, deadlineMs: 2000, log });
    expect(ips).toEqual(new Map([[A, '192.168.1.10'], [B, '192.168.1.20']]));
    expect(read).toHaveBeenCalledTimes(3);
  });

  it('asks the fallback, every fallbackEveryMs, only for MACs still missing', async () => {
    const fallback = vi.fn(async (mac: string) => (mac === B && fallback.mock.calls.length > 1 ? [{ ip: '10.0.0.2', learnedMs: null }] : []));
    const ips = await waitForIps([A, B], { read: async () => HEADER + row('10.0.0.1', A), intervalMs: 5, fallbackEveryMs: 30, deadlineMs: 2000, fallback, log });
    expect(ips.get(B)).toBe('10.0.0.2');
    expect(fallback.mock.calls.map((c) => c[0])).toEqual([B, B]);
  });

  it('a slow fallback does not hold up the ARP rounds', async () => {
    let reads = 0;
    const read = async () => HEADER + (++reads >= 4 ? row('10.0.0.1', A) : '');
    const t0 = performance.now();
    const ips = await waitForIps([A], { read, intervalMs: 10, fallbackEveryMs: 1, deadlineMs: 5000, fallback: () => new Promise(() => undefined), log });
    expect(ips.get(A)).toBe('10.0.0.1');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('on the deadline names the MACs (and VMs) still without an address', async () => {
    const names = new Map([[B.toUpperCase(), 'vtq-1.srv-n01-2']]);
    const t0 = performance.now();
    const err = await waitForIps([A, B], { read: async () => HEADER + row('10.0.0.1', A), intervalMs: 10, deadlineMs: 120, names, log }).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(IpDiscoveryError);
    expect((err as IpDiscoveryError).missing).toEqual([B]);
    expect((err as Error).message).toMatch(/^no IP address after \d+ ms for 1 VM\(s\): vtq-1.srv-n01-2 \(52:54:00:00:00:0b\)$/);
  });

  it('a lease counts only when granted after the boot began (within its second); an older one, or one of unknown age, is ignored', async () => {
    const since = Date.now();
    let calls = 0;
    // Newest first, as leaseCandidates gives them: the first boot's lease of another address, then (from the 3rd ask) this boot's.
    const fallback = async (): Promise<{ ip: string; learnedMs: number | null }[]> => {
      calls++;
      const old = [{ ip: '10.0.0.5', learnedMs: since - 60_000 }, { ip: '10.0.0.6', learnedMs: null }];
      return calls >= 3 ? [{ ip: '10.0.0.7', learnedMs: since - 400 }, ...old] : old;
    };
    const found: string[] = [];
    const ips = await waitForIps([A], { read: async () => HEADER, intervalMs: 5, fallbackEveryMs: 10, deadlineMs: 2000, fallback, since, log, onFound: (mac, ip, src) => found.push(`${mac} ${ip} ${src}`) });
    expect(ips.get(A)).toBe('10.0.0.7');
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(found).toEqual([`${A} 10.0.0.7 lease`]);
    // Without a fresh one the wait ends at its deadline, the stale lease never taken.
    const err = await waitForIps([A], { read: async () => HEADER, intervalMs: 5, fallbackEveryMs: 10, deadlineMs: 150, fallback: async () => [{ ip: '10.0.0.5', learnedMs: since - 1500 }], since, log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpDiscoveryError);
  });

  it('notBefore binds one address later than since: it must be granted again after it stopped answering', async () => {
    const since = Date.now() - 30_000;
    const lost = Date.now();
    let calls = 0;
    const fallback = async () => (++calls >= 3 ? [{ ip: '10.0.0.5', learnedMs: lost + 2000 }] : [{ ip: '10.0.0.5', learnedMs: since + 1000 }]);
    const ips = await waitForIps([A], { read: async () => HEADER, intervalMs: 5, fallbackEveryMs: 10, deadlineMs: 2000, fallback, since, notBefore: new Map([[`${A} 10.0.0.5`, lost]]), log });
    expect(ips.get(A)).toBe('10.0.0.5');
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  it('a neighbour entry from before the boot is ignored until it has been seen gone; then its return counts', async () => {
    let reads = 0;
    const read = async () => {
      reads++;
      if (reads <= 3) return HEADER + row('10.0.0.5', A); // the entry that could not be removed
      if (reads === 4) return HEADER + row('10.0.0.5', A, '0x0'); // incomplete: gone for now
      return HEADER + row('10.0.0.5', A);
    };
    const ips = await waitForIps([A.toUpperCase()], { read, intervalMs: 5, deadlineMs: 2000, stale: new Set([`${A.toUpperCase()} 10.0.0.5`]), log });
    expect(ips.get(A)).toBe('10.0.0.5');
    expect(reads).toBe(5);
    // Never gone: never taken.
    const err = await waitForIps([A], { read: async () => HEADER + row('10.0.0.5', A), intervalMs: 5, deadlineMs: 100, stale: new Set([`${A} 10.0.0.5`]), log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpDiscoveryError);
  });

  it('gives a VM up as soon as `dead` says so, naming why, well before the hard deadline', async () => {
    const t0 = performance.now();
    let asked = 0;
    const err = await waitForIps([A, B], { read: async () => HEADER + row('10.0.0.1', A), intervalMs: 5, deadlineMs: 60_000, dead: (mac) => (mac === B && ++asked >= 3 ? 'no sign of life for 20.0 s' : null), log }).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(IpDiscoveryError);
    expect((err as IpDiscoveryError).missing).toEqual([B]);
    expect((err as Error).message).toMatch(/^no IP address after \d+ ms for 1 VM\(s\): 52:54:00:00:00:0b: no sign of life for 20.0 s$/);
  });

  it('stops when aborted', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error('prologue cancelled')), 30);
    await expect(waitForIps([A], { read: async () => HEADER, intervalMs: 10, deadlineMs: 5000, log, signal: ctl.signal })).rejects.toThrow('prologue cancelled');
  });

  it('a MAC with several entries waits for the fallback to settle it', async () => {
    const read = async () => HEADER + row('10.0.0.1', A) + row('10.0.0.9', A);
    const ips = await waitForIps([A], { read, intervalMs: 5, fallbackEveryMs: 20, deadlineMs: 2000, fallback: async () => [{ ip: '10.0.0.9', learnedMs: null }], log });
    expect(ips.get(A)).toBe('10.0.0.9');
  });
});
