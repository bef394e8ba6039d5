// The job runner (role: the job user on the job's first node, under Torque or Slurm): dist/job-run.mjs (src/runner/main.ts).
export { runJob } from './run-job.js';
export { jobRunArgs, runJobFromProcess } from './from-process.js';
export { RUNNER_EXIT, signalExitCode } from './exit-codes.js';
export type { RunJobOptions } from './options.js';
