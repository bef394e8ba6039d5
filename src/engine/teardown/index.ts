export { teardownJob, TeardownError, type TeardownOptions, type TeardownResult } from './teardown-job.js';
