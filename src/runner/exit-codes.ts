import { OUTCOME_EXIT } from '../core/contract/job-state.v1.js';

/** How `vtorque job-run` ends when the job script's own exit code is not what it reports. */
export const RUNNER_EXIT = {
  /** Not started as a Torque or Slurm job (no PBS_JOBID, no valid SLURM_JOB_ID) or a bad option. */
  usage: 2,
  /** The job could not be started: unreadable or invalid job state, a failed upload. */
  setup: 1,
  /** SSH failed: no connection, a refused host key, or the connection lost (as ssh(1) does). */
  ssh: 255,
  /** The scheduler sent SIGTERM (qdel, scancel, a time limit): 128 + 15; also a job cancelled while its VMs booted. */
  aborted: 143,
  /** The VM job was refused: its request, the site policy or its allocation (sysexits EX_DATAERR). */
  refused: OUTCOME_EXIT.job,
  /** The node could not start the VMs, also after the bounded requeues (sysexits EX_UNAVAILABLE). */
  nodeFailed: OUTCOME_EXIT.node,
} as const;

/** Linux signal numbers (the guests are Linux), by the names SSH carries (RFC 4254 §6.10). */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11,
  USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20,
  TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};

/** The shell's exit code for a process killed by `signal` ('TERM' or 'SIGTERM'): 128 + n; null if unknown. */
export function signalExitCode(signal: string): number | null {
  const n = SIGNAL_NUMBERS[signal.replace(/^SIG/, '')];
  return n === undefined ? null : 128 + n;
}
