import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forgetArp, forgetNeighboursOf, ipsOfMacs, neighbourPairs, parseProcNetArp } from './arp.js';

export const SAMPLE = [
  'IP address       HW type     Flags       HW address            Mask     Device',
  '192.168.122.45   0x1         0x2         52:54:00:AB:cd:01     *        virbr0',
  '192.168.122.46   0x1         0x0         00:00:00:00:00:00     *        virbr0',
  '10.0.0.1         0x1         0x2         aa:bb:cc:dd:ee:ff     *        eth0',
  '192.168.122.47   0x1         0x6         52:54:00:ab:cd:02     *        virbr0',
  'garbage line',
  '',
].join('\n');

describe('parseProcNetArp', () => {
  it('reads complete entries, lower-cases MACs, skips incomplete and malformed lines', () => {
    expect(parseProcNetArp(SAMPLE)).toEqual([
      { ip: '192.168.122.45', mac: '52:54:00:ab:cd:01', dev: 'virbr0', flags: '0x2' },
      { ip: '10.0.0.1', mac: 'aa:bb:cc:dd:ee:ff', dev: 'eth0', flags: '0x2' },
      { ip: '192.168.122.47', mac: '52:54:00:ab:cd:02', dev: 'virbr0', flags: '0x6' },
    ]);
    expect(parseProcNetArp('IP address HW type Flags HW address Mask Device\n')).toEqual([]);
  });
});

describe('forgetArp', () => {
  it('runs `ip neigh del IP dev DEV` per address, the device taken from the table; "no such" is fine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-ip-'));
    const ipBin = join(dir, 'ip');
    writeFileSync(ipBin, `#!/bin/sh\necho "$*" >> ${dir}/calls\n[ "$3" = 192.168.122.47 ] && { echo 'RTNETLINK answers: No such file or directory' >&2; exit 2; }\nexit 0\n`);
    chmodSync(ipBin, 0o755);
    const removed = await forgetArp(['192.168.122.45', '192.168.122.46', '192.168.122.47', '192.168.9.9', '1.2.3.4; reboot'], { read: async () => SAMPLE, ipBin });
    expect(removed).toEqual(['192.168.122.45', '192.168.122.46']);
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').sort()).toEqual([
      'neigh del 192.168.122.45 dev virbr0',
      'neigh del 192.168.122.46 dev virbr0',
      'neigh del 192.168.122.47 dev virbr0',
    ]);
    expect(await forgetArp(['10.1.1.1'], { dev: 'br0', ipBin })).toEqual(['10.1.1.1']);
  });
});

describe('ipsOfMacs', () => {
  it('finds the addresses of complete entries by MAC, case-insensitively, sorted and deduplicated', async () => {
    const table = [
      SAMPLE.trimEnd(),
      '192.168.122.44   0x1         0x2         52:54:00:ab:cd:01     *        virbr1',
      '192.168.122.45   0x1         0x2         52:54:00:ab:cd:01     *        virbr1',
      '192.168.122.48   0x1         0x0         52:54:00:ab:cd:03     *        virbr0',
      '',
    ].join('\n');
    let reads = 0;
    const read = async () => (reads++, table);
    expect(await ipsOfMacs(['52:54:00:AB:CD:01'], read)).toEqual(['192.168.122.44', '192.168.122.45']);
    expect(await ipsOfMacs(['52:54:00:ab:cd:02', 'AA:BB:CC:DD:EE:FF', '52:54:00:ab:cd:02'], read)).toEqual(['10.0.0.1', '192.168.122.47']);
    // An incomplete entry (flags 0x0) is skipped even when its MAC is known.
    expect(await ipsOfMacs(['52:54:00:ab:cd:03'], read)).toEqual([]);
    expect(await ipsOfMacs(['00:00:00:00:00:00', '52:54:00:ff:ff:ff'], read)).toEqual([]);
    expect(reads).toBe(4);
  });

  it('asks for no table when there are no MACs', async () => {
    let reads = 0;
    expect(await ipsOfMacs([], async () => (reads++, SAMPLE))).toEqual([]);
    expect(reads).toBe(0);
  });
});

describe('forgetNeighboursOf', () => {
  it("removes the MACs' complete entries before a boot and reports the pairs still there as stale", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-ip-'));
    const ipBin = join(dir, 'ip');
    const tableFile = join(dir, 'arp');
    writeFileSync(tableFile, SAMPLE);
    // `ip neigh del` drops the line from the table, but 192.168.122.47 cannot be removed (permanent, say).
    writeFileSync(ipBin, `#!/bin/sh\necho "$*" >> ${dir}/calls\n[ "$3" = 192.168.122.47 ] && { echo 'RTNETLINK answers: Operation not permitted' >&2; exit 2; }\nsed -i "/^$3 /d" ${tableFile}\n`);
    chmodSync(ipBin, 0o755);
    const read = async () => readFileSync(tableFile, 'utf8');
    const r = await forgetNeighboursOf(['52:54:00:AB:CD:01', '52:54:00:ab:cd:02'], { read, ipBin });
    expect(r.removed).toEqual(['192.168.122.45']);
    expect(readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n').sort()).toEqual(['neigh del 192.168.122.45 dev virbr0', 'neigh del 192.168.122.47 dev virbr0']);
    expect([...r.stale]).toEqual(['52:54:00:ab:cd:02 192.168.122.47']);
    expect([...(await neighbourPairs(['52:54:00:ab:cd:01'], read))]).toEqual([]);
    expect(readFileSync(tableFile, 'utf8')).toContain('10.0.0.1 '); // another MAC's entry stays
    expect(await forgetNeighboursOf(['52:54:00:ff:ff:ff'], { read, ipBin })).toEqual({ removed: [], stale: new Set() });
  });
});
