import { describe, expect, it } from 'vitest';
import { effectiveAlarmSeconds } from '../mom-config.js';
import { exitStatusAfterPrologue, hookRcFromWait, jobExitStatus, prologueOutcome, runLocalExitCode } from './verdict.js';

describe('Torque verdicts', () => {
  it('prologue: 0 runs, 1 aborts, everything else requeues', () => {
    expect([0, 1, 2, 255, -1, -4, -5].map(prologueOutcome)).toEqual(['run', 'abort', 'requeue', 'requeue', 'requeue', 'requeue', 'requeue']);
    expect(exitStatusAfterPrologue('abort')).toBe(-2);
    expect(exitStatusAfterPrologue('requeue')).toBe(-14);
  });

  it('job exit status: the code, or 256 + signal', () => {
    expect(jobExitStatus(3, null)).toBe(3);
    expect(jobExitStatus(null, 'SIGTERM')).toBe(271);
    expect(jobExitStatus(null, 'SIGKILL')).toBe(265);
  });

  it('a hook ended by a stray signal counts as 0 (run_pelog reads WEXITSTATUS only after a normal exit)', () => {
    expect(hookRcFromWait(null)).toBe(0);
    expect(hookRcFromWait(2)).toBe(2);
  });

  it('alarm is prologalarm - 10 above 10', () => {
    expect([300, 12, 11, 10, 5].map(effectiveAlarmSeconds)).toEqual([290, 2, 1, 10, 5]);
  });

  it('folds the result into a process exit code', () => {
    expect(runLocalExitCode({ verdict: 'run', exitStatus: 3 })).toBe(3);
    expect(runLocalExitCode({ verdict: 'run', exitStatus: 271 })).toBe(143);
    expect(runLocalExitCode({ verdict: 'run', exitStatus: -11 })).toBe(1);
    expect(runLocalExitCode({ verdict: 'aborted', exitStatus: -2 })).toBe(1);
    expect(runLocalExitCode({ verdict: 'not-submitted', exitStatus: 2 })).toBe(2);
    expect(runLocalExitCode({ verdict: 'not-submitted', exitStatus: 0 })).toBe(1);
  });
});
