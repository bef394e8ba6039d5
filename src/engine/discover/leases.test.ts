import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentLease, leaseLookup, parseDhcpLeases } from './leases.js';

const TABLE = [
  ' Expiry Time           MAC address         Protocol   IP address           Hostname   Client ID or DUID',
  '------------------------------------------------------------------------------------------------------------',
  ' 2026-11-21 10:00:00   52:54:00:aa:00:01   ipv4       192.168.122.10/24    vn01-1     ff:00:aa:00:01',
  ' 2026-11-21 12:30:00   52:54:00:AA:00:01   ipv4       192.168.122.11/24    -          -',
  ' 2026-11-21 12:30:00   52:54:00:aa:00:01   ipv6       fd00::11/64          vn01-1     00:04:aa',
  '',
].join('\n');
const at = (hh: number, mm: number) => new Date(2026, 10, 21, hh, mm, 0).getTime();

describe('DHCP leases', () => {
  it('parses the IPv4 rows of virsh net-dhcp-leases', () => {
    expect(parseDhcpLeases(TABLE)).toEqual([
      { expiresAt: at(10, 0), mac: '52:54:00:aa:00:01', ip: '192.168.122.10', hostname: 'vn01-1' },
      { expiresAt: at(12, 30), mac: '52:54:00:aa:00:01', ip: '192.168.122.11', hostname: null },
    ]);
  });

  it('ignores expired leases and prefers the newest', () => {
    const leases = parseDhcpLeases(TABLE);
    expect(currentLease(leases, '52:54:00:AA:00:01', at(9, 0))).toBe('192.168.122.11');
    expect(currentLease(leases, '52:54:00:aa:00:01', at(11, 0))).toBe('192.168.122.11');
    expect(currentLease(leases, '52:54:00:aa:00:01', at(13, 0))).toBeNull();
  });

  it('leaseLookup runs virsh with an argument array', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-virsh-'));
    const virshBin = join(dir, 'virsh');
    writeFileSync(join(dir, 'table'), TABLE);
    writeFileSync(virshBin, `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/argv\ncat ${dir}/table\n`);
    chmodSync(virshBin, 0o755);
    const lookup = leaseLookup('qemu:///system', 'jobnet', { virshBin, now: () => at(11, 0) });
    expect(await lookup('52:54:00:AA:00:01')).toBe('192.168.122.11');
    expect(readFileSync(join(dir, 'argv'), 'utf8').trim().split('\n')).toEqual(['-c', 'qemu:///system', 'net-dhcp-leases', '--network', 'jobnet', '--mac', '52:54:00:aa:00:01']);
    expect(await lookup('--help')).toBeNull();
  });
});
