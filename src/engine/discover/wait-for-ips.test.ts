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
    const fallback = vi.fn(async (mac: string) => (mac === B && fallback.mock.calls.length > 1 ? '10.0.0.2' : null));
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

  it('stops when aborted', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error('prologue cancelled')), 30);
    await expect(waitForIps([A], { read: async () => HEADER, intervalMs: 10, deadlineMs: 5000, log, signal: ctl.signal })).rejects.toThrow('prologue cancelled');
  });

  it('a MAC with several entries waits for the fallback to settle it', async () => {
    const read = async () => HEADER + row('10.0.0.1', A) + row('10.0.0.9', A);
    const ips = await waitForIps([A], { read, intervalMs: 5, fallbackEveryMs: 20, deadlineMs: 2000, fallback: async () => '10.0.0.9', log });
    expect(ips.get(A)).toBe('10.0.0.9');
  });
});
