import { describe, expect, it } from 'vitest';
import type { JobStatusV1 } from '../../lifecycle/index.js';
import { bar, formatStatus } from './status-command.js';

const status: JobStatusV1 = {
  version: 1,
  jobId: '42',
  owner: { user: 'alice', uid: 1001, gid: 1001 },
  scheduler: 'Slurm',
  attempts: [
    { startedAt: Date.UTC(2026, 11, 4, 3, 0, 0), nodes: ['n1'], result: 'failed', fault: 'node', reason: 'libvirt open: no socket', phases: [], vms: [] },
    {
      startedAt: Date.UTC(2026, 11, 4, 3, 2, 30),
      nodes: ['n1', 'n2'],
      result: 'running',
      fault: null,
      reason: null,
      phases: [{ phase: 'plan', startMs: 0, endMs: 100 }, { phase: 'prepare', startMs: 100, endMs: 1000 }, { phase: 'boot', startMs: 1000, endMs: 2000 }, { phase: 'ip', startMs: 2000, endMs: 20000 }, { phase: 'ssh', startMs: 20000, endMs: 22000 }, { phase: 'nodefile', startMs: 22000, endMs: 24000 }],
      vms: [{ name: 'vvm-1', node: 'n1', addressMs: 12000, readyMs: 14000 }, { name: 'vvm-2', node: 'n2', addressMs: 20000, readyMs: 22000 }],
    },
  ],
  ended: { at: Date.UTC(2026, 11, 4, 3, 10, 0), vmsTornDown: 2, left: [], error: null },
  updatedAt: 0,
};

describe('vtorque status as a person reads it', () => {
  it('one block per start (the requeued one with its reason), one bar per VM, the end', () => {
    expect(formatStatus(status)).toEqual([
      'job 42 (Slurm), owner alice: ended; 2 start(s)',
      'start 1 at 2026-12-04 03:00:00Z on n1: failed (node): libvirt open: no socket',
      'start 2 at 2026-12-04 03:02:30Z on n1, n2: ready after 24.0s',
      '  phases: plan 0.1s | prepare 0.9s | boot 1.0s | ip 18.0s | ssh 2.0s | nodefile 2.0s',
      `            0s${' '.repeat(41)}24.0s`,
      `  vvm-1 n1  [${bar(status.attempts[1]!, status.attempts[1]!.vms[0]!, 24000)}] address 10.0s, SSH 2.0s`,
      `  vvm-2 n2  [${bar(status.attempts[1]!, status.attempts[1]!.vms[1]!, 24000)}] address 18.0s, SSH 2.0s`,
      '  bar: p plan and prepare, b boot, ~ waiting for its address, s SSH, = ready (the others still coming), n node file, . not reached',
      'ended 2026-12-04 03:10:00Z: 2 VM(s) torn down; nothing left',
    ]);
  });
  it('a bar shows each phase where it was, scaled to the start', () => {
    const a = status.attempts[1]!;
    expect(bar(a, a.vms[0]!, 24000)).toBe(`${'p'.repeat(2)}${'b'.repeat(2)}${'~'.repeat(20)}${'s'.repeat(4)}${'='.repeat(16)}${'n'.repeat(4)}`);
    expect(bar(a, a.vms[1]!, 24000)).toBe(`${'p'.repeat(2)}${'b'.repeat(2)}${'~'.repeat(36)}${'s'.repeat(4)}${'n'.repeat(4)}`);
  });
});
