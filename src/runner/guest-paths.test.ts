import { describe, expect, it } from 'vitest';
import { guestPaths } from './guest-paths.js';

describe('guestPaths', () => {
  it('are the real guest paths by default', () => {
    expect(guestPaths('', '42.srv')).toEqual({
      vmDir: '/var/spool/torque/vm',
      envFile: '/var/spool/torque/vm/job.env',
      jobScript: '/var/spool/torque/vm/job-script',
      vmPrologue: '/var/spool/torque/vm/vm-prologue',
      vmEpilogue: '/var/spool/torque/vm/vm-epilogue',
      nodeFile: '/var/spool/torque/aux/42.srv',
    });
  });

  it('move under a test guest root', () => {
    expect(guestPaths('/tmp/g', '42.srv')).toMatchObject({ envFile: '/tmp/g/vm/job.env', nodeFile: '/tmp/g/aux/42.srv' });
  });

  it('refuse a relative guest root and a job dir that is not one path element', () => {
    expect(() => guestPaths('tmp/g', '1')).toThrow(/guestRoot/);
    expect(() => guestPaths('/tmp/g/', '1')).toThrow(/guestRoot/);
    expect(() => guestPaths('', '../x')).toThrow(/one safe path element/);
    expect(() => guestPaths('', 'a/b')).toThrow(/one safe path element/);
  });
});
