import { displayValue, VtorqueError } from '../core/errors.js';
import { RUNNER_EXIT } from './exit-codes.js';

/** Which scheduler runs the job, as told by the job's environment; the job id is the one it gave. */
export interface JobScheduler {
  readonly kind: 'torque' | 'slurm';
  /** For messages: `cancelled (SIGTERM from Slurm)`. */
  readonly name: 'Torque' | 'Slurm';
  /** Where the job id came from (for messages). */
  readonly idVariable: 'PBS_JOBID' | 'SLURM_JOB_ID';
  readonly jobId: string;
}

/**
 * Slurm's job ids are numbers (uint32; an array task has its own in SLURM_JOB_ID), and the Slurm
 * prolog (src/slurm/hooks/context.ts) keys the job's state by the same digits; anything else
 * would name no state dir of ours, or a foreign one.
 */
const SLURM_JOB_ID = /^[0-9]{1,12}$/;

/**
 * The scheduler from the job env: PBS_JOBID (pbs_mom always sets it) means Torque, else SLURM_JOB_ID
 * (slurmd sets it for the batch step) means Slurm. PBS_JOBID goes first: `qsub -V` may carry a
 * SLURM_JOB_ID into a Torque job. (A vsbatch run inside a Torque job carries PBS_JOBID the other way,
 * by sbatch's --export=ALL; that job is then taken for Torque's and finds no state.)
 */
export function jobScheduler(env: NodeJS.ProcessEnv): JobScheduler {
  // The wrapper vsbatch writes names its scheduler (one submitted from inside a Torque job
  // carries a PBS_JOBID along); older wrappers and vsub's are told apart by the job ids.
  const named = env.VTORQUE_SCHEDULER;
  const pbs = named === 'slurm' ? undefined : env.PBS_JOBID;
  if (pbs) return { kind: 'torque', name: 'Torque', idVariable: 'PBS_JOBID', jobId: pbs };
  const slurm = env.SLURM_JOB_ID;
  if (!slurm) {
    // Starts as it always did: scripts and tests match "PBS_JOBID is not set".
    throw new VtorqueError('USAGE', 'PBS_JOBID is not set, nor SLURM_JOB_ID: `vtorque job-run` runs only inside a Torque or Slurm job, started by the job wrapper vsub or vsbatch writes', {
      exitCode: RUNNER_EXIT.usage,
      fault: 'job',
    });
  }
  if (!SLURM_JOB_ID.test(slurm)) {
    throw new VtorqueError('USAGE', `SLURM_JOB_ID = ${displayValue(slurm)}: expected a Slurm job id (1 to 12 digits); \`vtorque job-run\` runs only as the batch step of the job vsbatch submitted`, {
      exitCode: RUNNER_EXIT.usage,
      fault: 'job',
    });
  }
  return { kind: 'slurm', name: 'Slurm', idVariable: 'SLURM_JOB_ID', jobId: slurm };
}

/**
 * The job's working directory, where the guest shell starts (undefined or '' = the user's home).
 * Torque names it in PBS_O_WORKDIR; Slurm sets no variable for it (SLURM_SUBMIT_DIR is only its
 * default) but starts the batch step there (sbatch --chdir), so it is the runner's own cwd.
 */
export function guestWorkdir(scheduler: JobScheduler, env: NodeJS.ProcessEnv, cwd: string | undefined): string | undefined {
  return scheduler.kind === 'torque' ? env.PBS_O_WORKDIR : cwd;
}
