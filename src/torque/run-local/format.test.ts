import { describe, expect, it } from 'vitest';
import { formatLiveEvent, formatRunLocal } from './format.js';
import type { RunLocalResult } from './types.js';

const base: RunLocalResult = {
  jobId: '4.vm', verdict: 'run', exitStatus: 0, canceled: false, attempts: [{ prologueRc: 0, epilogueRc: 0, exitStatus: 0, ms: 10 }],
  stdout: 'hello\n', stderr: '', spool: { stdout: 'hello\n', stderr: '' }, hooks: [], submit: { exitCode: 0, stdout: '4.vm\n', stderr: '', qsubArgv: ['job.sh'] },
};

describe('formatRunLocal', () => {
  it('labels .OU and .ER and ends with the verdict line', () => {
    expect(formatRunLocal(base)).toBe('=== job 4.vm stdout (.OU) ===\nhello\n=== job 4.vm stderr (.ER) ===\nrun-local: job 4.vm: run, exit status 0\n');
  });

  it('shows vsub\'s output when nothing was submitted, and the starts of a requeue loop', () => {
    const failed = { ...base, verdict: 'not-submitted', exitStatus: 1, attempts: [], submit: { exitCode: 1, stdout: '', stderr: 'vsub: bad', qsubArgv: [] } } as const;
    expect(formatRunLocal(failed)).toBe('=== vsub stdout (exit 1) ===\n=== vsub stderr ===\nvsub: bad\nrun-local: job 4.vm: not submitted, exit status 1\n');
    const loop = { ...base, verdict: 'requeued-limit', exitStatus: -14, attempts: [2, 2].map((rc) => ({ prologueRc: rc, epilogueRc: 0, exitStatus: -14, ms: 1 })) } as const;
    expect(formatRunLocal(loop)).toMatch(/run-local: 2 starts, prologue exit codes 2, 2\nrun-local: job 4\.vm: requeued-limit, exit status -14\n$/);
  });
});

describe('formatLiveEvent', () => {
  it("puts run-local's clock, the step and the stream before each line, the steps' results in words", () => {
    expect(formatLiveEvent({ kind: 'submitted', atMs: 812, jobId: '4.vm' })).toBe('run-local     0.8s job 4.vm submitted\n');
    expect(formatLiveEvent({ kind: 'output', atMs: 24_449, start: 1, step: 'prologue', stream: 'stdout', text: '[vtorque 24.1s] addresses: vtq-4-vm-0=10.0.0.5; waiting for SSH', partial: false }))
      .toBe('run-local    24.4s prologue stdout | [vtorque 24.1s] addresses: vtq-4-vm-0=10.0.0.5; waiting for SSH\n');
    expect(formatLiveEvent({ kind: 'output', atMs: 95_000, start: 1, step: 'job', stream: 'stderr', text: 'oops', partial: false })).toBe('run-local    95.0s job      stderr | oops\n');
    expect(formatLiveEvent({ kind: 'begin', atMs: 1000, start: 2, step: 'prologue' })).toBe('run-local     1.0s prologue starts (start 2)\n');
    expect(formatLiveEvent({ kind: 'end', atMs: 1000, start: 1, step: 'prologue', rc: 1, ms: 400 })).toBe('run-local     1.0s prologue exit 1 after 0.4 s: Torque aborts the job\n');
    expect(formatLiveEvent({ kind: 'end', atMs: 1000, start: 1, step: 'prologue', rc: -4, ms: 400 })).toBe('run-local     1.0s prologue exit -4 after 0.4 s: Torque requeues the job\n');
    expect(formatLiveEvent({ kind: 'end', atMs: 9000, start: 1, step: 'job', rc: 271, ms: 8000 })).toBe('run-local     9.0s job exit status 271 after 8.0 s\n');
  });

  it("never lets the owner's text drive the terminal: control, line-separator and bidi characters are shown escaped", () => {
    const text = 'red \u001b[31mX\u001b[0m\tbell\u0007 cr\r del\u007f c1\u009b rlo\u202e ls\u2028 é';
    expect(formatLiveEvent({ kind: 'output', atMs: 0, start: 1, step: 'job', stream: 'stdout', text, partial: true }))
      .toBe('run-local     0.0s job      stdout | red \\x1b[31mX\\x1b[0m\tbell\\x07 cr\\x0d del\\x7f c1\\x9b rlo\\u202e ls\\u2028 é\n');
  });
});
