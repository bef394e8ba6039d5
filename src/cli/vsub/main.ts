import { runMain } from '../../core/run-main.js';
import { processIo, runForeground } from '../shared/process.js';
import { runVsub } from './submit.js';

// Entry point: wire the real process into runVsub and map the outcome to an exit code.
await runMain('vsub', () => runVsub(process.argv.slice(2), { ...processIo(import.meta.url), runQsub: runForeground }));
