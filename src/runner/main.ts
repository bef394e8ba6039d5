// Entry point of the job runner's own bundle, dist/job-run.mjs: what the job wrapper vsub or vsbatch
// writes runs as the job user (`node job-run.mjs "$@"`). It holds the runner and core only (no libvirt,
// no root or admin code); every argument is the job's own (-F), unparsed.
import { runMain } from '../core/run-main.js';
import { runJobFromProcess } from './from-process.js';

await runMain('vtorque job-run', () => runJobFromProcess(process.argv.slice(2)));
