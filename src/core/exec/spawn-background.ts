import { spawn } from 'node:child_process';
import { CommandError } from '../errors.js';

/** A child left running in the background: its pid, and a promise settled when it ends. */
export interface BackgroundChild {
  readonly pid: number;
  readonly exited: Promise<{ exitCode: number | null; signal: string | null }>;
}

/**
 * Start a long-lived helper (argument array, no shell, stdio to /dev/null) and return once it has
 * a pid. It stays our child: end it with `process.kill(child.pid, …)`. The process is unref'd so
 * it never keeps Node alive on its own.
 */
export function spawnBackground(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<BackgroundChild> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore', env });
    const exited = new Promise<{ exitCode: number | null; signal: string | null }>((res) => {
      child.once('exit', (exitCode, signal) => res({ exitCode, signal }));
    });
    child.once('error', (err) => {
      const durationMs = Math.round(performance.now() - started);
      reject(new CommandError({ file, args, exitCode: null, signal: null, stderr: err.message, durationMs, timedOut: false }, { cause: err, fault: 'node' }));
    });
    child.once('spawn', () => {
      child.unref();
      resolve({ pid: child.pid as number, exited });
    });
  });
}
