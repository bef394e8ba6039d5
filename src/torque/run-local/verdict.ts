import { constants } from 'node:os';
import type { RunLocalResult } from './types.js';

/**
 * Torque's reading of exit codes (torque-hook-contract.md §5.4; start_exec.c handle_prologs and
 * req_jobobit.c): pure functions so the lifecycle only sequences effects.
 */
export const TORQUE_EXIT = {
  /** JOB_EXEC_FAIL2: the prologue exited 1, the job is aborted. */
  prologueAbort: -2,
  /** JOB_EXEC_OVERLIMIT_WT: killed at its walltime. */
  overWalltime: -11,
  /** JOB_EXEC_RETRY_PROLOGUE: any other prologue result, the job goes back to the queue. */
  prologueRetry: -14,
  /** 256 + SIGTERM: qdel, also when it hit the job during its prologue. */
  deleted: 256 + 15,
} as const;

/** run_pelog's internal results. */
export const PELOG_RC = { permission: -1, timeout: -4, cannotKill: -5 } as const;

export type PrologueOutcome = 'run' | 'abort' | 'requeue';

/** 0 runs the job, 1 aborts it, everything else (2, 255, -1, -4, …) requeues it. */
export function prologueOutcome(rc: number): PrologueOutcome {
  if (rc === 0) return 'run';
  if (rc === 1) return 'abort';
  return 'requeue';
}

/** The exit status an epilogue sees after a prologue that did not let the job run. */
export function exitStatusAfterPrologue(outcome: Exclude<PrologueOutcome, 'run'>): number {
  return outcome === 'abort' ? TORQUE_EXIT.prologueAbort : TORQUE_EXIT.prologueRetry;
}

/** A job's exit status as pbs_mom records it: the exit code, or 256 + the signal that ended it. */
export function jobExitStatus(code: number | null, signal: string | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : (constants.signals as Record<string, number>)[signal];
  return 256 + (n ?? 0);
}

/**
 * run_pelog() reads WEXITSTATUS only when the script exited; a script ended by a signal nobody
 * sent on purpose keeps run_exit = 0 (prolog.c), so it counts as success.
 */
export function hookRcFromWait(code: number | null): number {
  return code ?? 0;
}

/** A process exit code for `vtorque run-local` itself: the job's status folded into 0..255. */
export function runLocalExitCode(result: Pick<RunLocalResult, 'verdict' | 'exitStatus'>): number {
  if (result.verdict === 'not-submitted') return result.exitStatus === 0 ? 1 : clamp(result.exitStatus);
  if (result.verdict !== 'run') return 1;
  if (result.exitStatus > 256) return 128 + (result.exitStatus - 256);
  return clamp(result.exitStatus);
}

function clamp(n: number): number {
  return n >= 0 && n <= 255 ? n : 1;
}
