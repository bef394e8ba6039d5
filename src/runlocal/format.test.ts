import { describe, expect, it } from 'vitest';
import { formatRunLocal } from './format.js';
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
