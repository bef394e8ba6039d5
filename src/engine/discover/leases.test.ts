import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentLease, DNSMASQ_DEFAULT_LEASE_S, leaseCandidates, leaseLookup, networkLeaseSeconds, parseDhcpLeases } from './leases.js';

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

  it('reads expiry times as UTC when virsh ran with TZ=UTC', () => {
    expect(parseDhcpLeases(TABLE, true)[0]?.expiresAt).toBe(Date.UTC(2026, 10, 21, 10, 0, 0));
  });

  it("the network's lease time: the MAC's <host> lease, else the range holding the address (unit minutes by default), else dnsmasq's hour; 0 is infinite", () => {
    const xml = `<network><name>jobnet</name><ip address='10.1.0.1' prefix='24'><dhcp>
      <range start='10.1.0.100' end='10.1.0.149'><lease expiry='30'/></range>
      <range start='10.1.0.150' end='10.1.0.199'><lease expiry='2' unit='hours'/></range>
      <range start='10.1.0.200' end='10.1.0.209'/>
      <range start='10.1.0.210' end='10.1.0.219'><lease expiry='0'/></range>
      <host mac='52:54:00:AA:00:09' ip='10.1.0.9'><lease expiry='90' unit='seconds'/></host>
      <host mac='52:54:00:aa:00:08' ip='10.1.0.8'/>
    </dhcp></ip></network>`;
    expect(networkLeaseSeconds(xml, '52:54:00:aa:00:09', '10.1.0.9')).toBe(90);
    expect(networkLeaseSeconds(xml, '52:54:00:aa:00:01', '10.1.0.120')).toBe(1800);
    expect(networkLeaseSeconds(xml, '52:54:00:aa:00:01', '10.1.0.199')).toBe(7200);
    expect(networkLeaseSeconds(xml, '52:54:00:aa:00:01', '10.1.0.205')).toBe(DNSMASQ_DEFAULT_LEASE_S);
    expect(networkLeaseSeconds(xml, '52:54:00:aa:00:08', '10.1.0.8')).toBe(DNSMASQ_DEFAULT_LEASE_S);
    expect(networkLeaseSeconds(xml, '52:54:00:aa:00:01', '10.1.0.215')).toBeNull();
    expect(networkLeaseSeconds('<network/>', '52:54:00:aa:00:01', '10.1.0.5')).toBe(3600);
  });

  it('lease candidates: live ones, newest first, each granted at expiry minus the lease time', () => {
    const leases = parseDhcpLeases(TABLE);
    expect(leaseCandidates(leases, '52:54:00:AA:00:01', at(9, 0), () => 3600)).toEqual([
      { ip: '192.168.122.11', learnedMs: at(11, 30) },
      { ip: '192.168.122.10', learnedMs: at(9, 0) },
    ]);
    expect(leaseCandidates(leases, '52:54:00:aa:00:01', at(11, 0), (ip) => (ip.endsWith('.11') ? null : 3600))).toEqual([{ ip: '192.168.122.11', learnedMs: null }]);
    expect(leaseCandidates(leases, '52:54:00:aa:00:02', at(9, 0), () => 3600)).toEqual([]);
  });

  it('leaseLookup runs virsh with argument arrays and TZ=UTC, reads the network XML once, and gives grant times', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-virsh-'));
    const virshBin = join(dir, 'virsh');
    writeFileSync(join(dir, 'table'), TABLE);
    writeFileSync(join(dir, 'net.xml'), "<network><ip><dhcp><range start='192.168.122.2' end='192.168.122.254'><lease expiry='2' unit='hours'/></range></dhcp></ip></network>");
    writeFileSync(virshBin, `#!/bin/sh\nprintf '%s ' "TZ=$TZ" "$@" >> ${dir}/argv; echo >> ${dir}/argv\ncase "$3" in net-dumpxml) cat ${dir}/net.xml;; *) cat ${dir}/table;; esac\n`);
    chmodSync(virshBin, 0o755);
    const now = Date.UTC(2026, 10, 21, 11, 0, 0);
    const lookup = leaseLookup('qemu:///system', 'jobnet', { virshBin, now: () => now });
    expect(await lookup('52:54:00:AA:00:01')).toEqual([{ ip: '192.168.122.11', learnedMs: Date.UTC(2026, 10, 21, 10, 30, 0) }]);
    expect(await lookup('52:54:00:aa:00:01')).toHaveLength(1);
    expect(readFileSync(join(dir, 'argv'), 'utf8').trim().split('\n').map((l) => l.trim())).toEqual([
      'TZ=UTC -c qemu:///system net-dumpxml jobnet',
      'TZ=UTC -c qemu:///system net-dhcp-leases --network jobnet --mac 52:54:00:aa:00:01',
      'TZ=UTC -c qemu:///system net-dhcp-leases --network jobnet --mac 52:54:00:aa:00:01',
    ]);
    expect(await lookup('--help')).toEqual([]);
  });
});
