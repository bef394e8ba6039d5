import { runMain } from '../../core/run-main.js';
import { processIo, runForeground } from '../shared/process.js';
import { runVsbatch } from './submit.js';

// Entry point: wire the real process into runVsbatch and map the outcome to an exit code.
await runMain('vsbatch', () => runVsbatch(process.argv.slice(2), { ...processIo(import.meta.url), runSbatch: runForeground }));
