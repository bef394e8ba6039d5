import { describe, expect, it } from 'vitest';
import { SEED_CAPABILITY } from '../../core/contract/guest-seed.v1.js';
import { seedCmdline } from './seed.js';

describe('seedCmdline', () => {
  const tuned = `root=/dev/vda rw console=ttyS0 quiet ${SEED_CAPABILITY}`;
  it('turns the capability into vtorque.seed=on with cloud-init off when vtorque-seed starts the VM', () => {
    expect(seedCmdline(tuned, true)).toBe('root=/dev/vda rw console=ttyS0 quiet vtorque.seed=on cloud-init=disabled');
  });
  it('drops the capability when cloud-init starts it', () => {
    expect(seedCmdline(tuned, false)).toBe('root=/dev/vda rw console=ttyS0 quiet');
  });
  it('leaves a command line without the capability as it is (extra spaces aside)', () => {
    expect(seedCmdline('root=/dev/vda1  ro console=ttyS0', false)).toBe('root=/dev/vda1 ro console=ttyS0');
  });
});
