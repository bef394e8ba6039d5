/** Slurm's states of a job that has ended (slurm.h job_states); any other is still the scheduler's. */
export const ENDED_JOB_STATES: ReadonlySet<string> = new Set(['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'OUT_OF_MEMORY']);

/** Job states in which its start is still wanted: a cancel, requeue or end turns it into something else. */
export const STARTING_JOB_STATES: ReadonlySet<string> = new Set(['RUNNING', 'CONFIGURING']);
