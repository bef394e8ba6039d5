// The job's state dir as the runner (job user) reads it; everything re-parsed here.
export { loadJobRun, readOutcome, type JobRun, type JobVm } from './load-job.js';
export { readStateFile, type StateFileOwner } from './read-state-file.js';
