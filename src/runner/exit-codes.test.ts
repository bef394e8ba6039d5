import { describe, expect, it } from 'vitest';
import { signalExitCode } from './exit-codes.js';

describe('signalExitCode', () => {
  it.each([
    ['TERM', 143],
    ['SIGTERM', 143],
    ['KILL', 137],
    ['HUP', 129],
    ['INT', 130],
    ['SEGV', 139],
    ['ABRT', 134],
    ['PIPE', 141],
    ['USR1', 138],
  ])('%s → %i', (name, code) => expect(signalExitCode(name)).toBe(code));

  it('is null for a name it does not know', () => {
    expect(signalExitCode('NOPE@openssh.com')).toBeNull();
  });
});
