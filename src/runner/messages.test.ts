import { describe, expect, it } from 'vitest';
import { messages } from './messages.js';

describe('messages', () => {
  it('name the scheduler that sent SIGTERM, Torque\'s lines as they always were', () => {
    expect(messages.cancelled('vm0', 'Torque')).toBe('cancelled (SIGTERM from Torque): stopped the job in vm0');
    expect(messages.cancelledBeforeStart('Torque')).toBe('cancelled (SIGTERM from Torque) before the job script started');
    expect(messages.cancelled('vm0', 'Slurm')).toBe('cancelled (SIGTERM from Slurm): stopped the job in vm0');
    expect(messages.cancelledBeforeStart('the scheduler')).toBe('cancelled (SIGTERM from the scheduler) before the job script started');
  });
});
