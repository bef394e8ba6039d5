import { displayValue } from '../core/errors.js';

/** What the runner tells the job's owner on stderr (each line gets the `vTorque: ` prefix). */
export const messages = {
  prologueFailed: (code: number) => `vm_prologue exited ${code}; the job script was not run`,
  epilogueFailed: (code: number, jobCode: number) => `vm_epilogue exited ${code}; the job's exit code ${jobCode} stands`,
  epilogueNotRun: (reason: string, jobCode: number) => `vm_epilogue could not run: ${reason}; the job's exit code ${jobCode} stands`,
  killedBy: (what: string, vm: string, signal: string) => `${what} in ${vm} was killed by ${/^[A-Z0-9]{1,12}$/.test(signal) ? `SIG${signal}` : `signal ${displayValue(signal, 40)}`}`,
  /** `from`: the scheduler's name (Torque, Slurm), or 'the scheduler' before it is known. */
  cancelled: (vm: string, from: string) => `cancelled (SIGTERM from ${from}): stopped the job in ${vm}`,
  cancelledBeforeStart: (from: string) => `cancelled (SIGTERM from ${from}) before the job script started`,
  notPassed: (names: readonly string[]) => `not passed into the VM (not shell variable names): ${names.map((n) => displayValue(n, 40)).join(', ')}`,
} as const;
