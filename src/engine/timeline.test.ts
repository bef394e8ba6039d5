import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BOOT_SAMPLES_KEPT, BOOT_TIMES_FILE, bootTimesKey, measuredPhases, quietLimit, readBootTimes, recordBootTimes } from './timeline.js';

const opts = { headroom: 3, minMs: 20_000, unmeasuredMs: 120_000 };

describe('quiet limits from measured phase times', () => {
  it('TIMEOUT until a start is measured; then headroom x the median, at least BOOT_MIN_WAIT', () => {
    expect(quietLimit('ip', null, opts)).toEqual({ ms: 120_000, why: 'TIMEOUT 120.0 s: no start of this image measured on this node yet' });
    const m = measuredPhases([
      { ipMs: 70_000, sshMs: 40_000, atMs: 1 },
      { ipMs: 50_000, sshMs: 4000, atMs: 2 },
      { ipMs: 90_000, sshMs: 30_000, atMs: 3 },
    ]);
    expect(m).toEqual({ ipMs: 70_000, sshMs: 30_000, samples: 3 });
    expect(quietLimit('ip', m, opts)).toEqual({ ms: 210_000, why: '3 x 70.0 s measured (median of 3 start(s) here)' });
    expect(quietLimit('ssh', m, opts).ms).toBe(90_000);
    const fast = measuredPhases([{ ipMs: 3000, sshMs: 1000, atMs: 1 }, { ipMs: 5000, sshMs: 3000, atMs: 2 }]);
    expect(fast).toEqual({ ipMs: 4000, sshMs: 2000, samples: 2 });
    expect(quietLimit('ip', fast, opts)).toEqual({ ms: 20_000, why: '3 x 4.0 s measured (median of 2 start(s) here), at least BOOT_MIN_WAIT 20.0 s' });
  });

  it('the SSH phase scales with the pace of this boot: how much slower it got its address than measured, never below 1', () => {
    const m = { ipMs: 40_000, sshMs: 30_000, samples: 5 };
    expect(quietLimit('ssh', m, { ...opts, ipTookMs: 100_000 })).toEqual({ ms: 225_000, why: '3 x 30.0 s measured (median of 5 start(s) here) x pace 2.50' });
    expect(quietLimit('ssh', m, { ...opts, ipTookMs: 10_000 }).ms).toBe(90_000);
  });
});

describe('the boot-times record', () => {
  it('keeps the last starts per image and domain type in SPOOL_DIR, and reads nothing from a broken file', () => {
    const spool = mkdtempSync(join(tmpdir(), 'vtq-times-'));
    const key = bootTimesKey('/pool/debian-12-x86_64.qcow2', 'qemu');
    expect(bootTimesKey('/pool/debian-12-x86_64.qcow2', 'qemu', 'cloud-init')).not.toBe(key); // measured apart
    expect(key).toBe('qemu:debian-12-x86_64.qcow2');
    expect(readBootTimes(spool, key)).toEqual([]);
    for (let i = 0; i < BOOT_SAMPLES_KEPT + 3; i++) recordBootTimes(spool, key, { ipMs: 1000 * i, sshMs: 10 * i, atMs: i });
    recordBootTimes(spool, 'kvm:debian-12-x86_64.qcow2', { ipMs: 900, sshMs: 300, atMs: 99 });
    const kept = readBootTimes(spool, key);
    expect(kept).toHaveLength(BOOT_SAMPLES_KEPT);
    expect(kept[0]).toEqual({ ipMs: 3000, sshMs: 30, atMs: 3 });
    expect(readBootTimes(spool, 'kvm:debian-12-x86_64.qcow2')).toEqual([{ ipMs: 900, sshMs: 300, atMs: 99 }]);
    const file = join(spool, BOOT_TIMES_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(1);
    // Bad rows are dropped, a bad file is none.
    writeFileSync(file, JSON.stringify({ version: 1, entries: { [key]: [{ ipMs: -1, sshMs: 1, atMs: 1 }, { ipMs: 'x' }, { ipMs: 5, sshMs: 6, atMs: 7 }] } }));
    expect(readBootTimes(spool, key)).toEqual([{ ipMs: 5, sshMs: 6, atMs: 7 }]);
    writeFileSync(file, '{"version": 2');
    expect(readBootTimes(spool, key)).toEqual([]);
    recordBootTimes(spool, key, { ipMs: 1, sshMs: 2, atMs: 3 });
    expect(readBootTimes(spool, key)).toEqual([{ ipMs: 1, sshMs: 2, atMs: 3 }]);
  });
});
