import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { appLayout, type AppLayout } from '../../core/install/paths.js';

/** What a submit command (vsub, vsbatch) needs from its process besides the scheduler it runs (tests pass their own). */
export interface SubmitIo {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly hostname: string;
  readonly nodePath: string;
  readonly layout: AppLayout;
  readStdin(): Promise<string>;
  out(text: string): void;
  err(text: string): void;
}

/** All of this process's stdin, as text. */
export function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/**
 * The scheduler's submit command in the foreground: its stdout (the job id) and stderr go straight
 * to the user; `input` becomes its stdin when given. With `onStdout`, stdout is passed on as it
 * comes and shown to the caller too (the job id for --follow).
 */
export function runForeground(file: string, args: readonly string[], input: string | null, onStdout?: (text: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [input === null ? 'inherit' : 'pipe', onStdout ? 'pipe' : 'inherit', 'inherit'] });
    child.stdout?.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      onStdout?.(chunk.toString('utf8'));
    });
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

/**
 * What a submit command takes from its process (vsub, vsbatch): environment, directories, streams.
 * `entryUrl` is the entry point's import.meta.url (the bundle's, once built), from which the
 * installation's layout follows. A reader that stops early (`| head`) is not an error.
 */
export function processIo(entryUrl: string): SubmitIo {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
  return {
    env: process.env,
    cwd: process.cwd(),
    hostname: hostname(),
    nodePath: process.execPath,
    layout: appLayout(entryUrl),
    readStdin,
    out: (text: string) => void process.stdout.write(text),
    err: (text: string) => void process.stderr.write(text),
  };
}
