import { spawn, type StdioOptions } from 'node:child_process';
import { CommandError, type CommandErrorDetails, type Fault } from '../errors.js';

export interface RunOptions {
  /** Text written to the child's stdin, then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Return a failed result instead of throwing CommandError. */
  reject?: boolean;
  uid?: number;
  gid?: number;
  /**
   * Whose failure a non-zero exit or a timeout is (CommandError.fault): the node's unless the
   * command acts on the job's own input (qemu-img on a user's disk), where the caller says 'job'.
   * A program that cannot be started at all is always the node's.
   */
  fault?: Fault;
}

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

/**
 * Run a program with an argument array (never a shell string), capturing its output.
 * Every subprocess of the toolkit goes through here so failures carry the same context.
 */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'];
    // Own process group when a timeout applies, so the kill reaches the command's children too
    // (a grandchild holding the pipes open would otherwise outlive the timeout).
    const child = spawn(file, args, {
      stdio,
      detached: options.timeoutMs !== undefined,
      env: options.env ?? process.env,
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
          }, options.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined); // the child may exit before reading everything
      child.stdin?.end(options.input);
    }
    const finish = (exitCode: number | null, signal: string | null, spawnError?: Error): void => {
      if (timer) clearTimeout(timer);
      const result: RunResult = {
        exitCode,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: spawnError ? spawnError.message : Buffer.concat(err).toString('utf8'),
        durationMs: Math.round(performance.now() - started),
        timedOut,
      };
      if ((exitCode === 0 && !timedOut) || options.reject === false) {
        resolve(result);
        return;
      }
      const details: CommandErrorDetails = { file, args, ...result };
      reject(new CommandError(details, { cause: spawnError, fault: spawnError ? 'node' : (options.fault ?? 'node') }));
    };
    let settled = false;
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      finish(null, null, e);
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      finish(code, signal);
    });
  });
}
