import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { appLayout } from '../../core/install/paths.js';
import { runMain } from '../../core/run-main.js';
import { runVsub } from './submit.js';

// A reader that stops early (`vsub --help | head`) is not an error: the rest of the output is dropped.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
});

// Entry point: wire the real process into runVsub and map the outcome to an exit code.
await runMain('vsub', () =>
  runVsub(process.argv.slice(2), {
    env: process.env,
    cwd: process.cwd(),
    hostname: hostname(),
    nodePath: process.execPath,
    layout: appLayout(import.meta.url),
    readStdin,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    runQsub,
  }),
);

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** qsub in the foreground: its stdout (the job id) and stderr go straight to the user. */
function runQsub(file: string, args: readonly string[], input: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [input === null ? 'inherit' : 'pipe', 'inherit', 'inherit'] });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    if (input !== null) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(input);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal];
}
