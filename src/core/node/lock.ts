import { spawn } from 'node:child_process';
import { VtorqueError } from '../errors.js';
import { requireExecutable } from '../exec/which.js';

/** Holds a node-wide exclusive lock until `release()`; the kernel drops it if this process dies. */
export interface HeldLock {
  /** How long the caller waited for the lock. */
  readonly waitedMs: number;
  release(): Promise<void>;
}

export interface LockOptions {
  /** Give up (LOCK_TIMEOUT) after this long. */
  readonly timeoutMs: number;
  /** Called once if the lock is not free at once, with the path (for progress lines). */
  readonly onWait?: (path: string) => void;
}

/**
 * An flock(2) on `path`, held by a `flock <path> cat` child: Node has no flock, and a lock held by
 * a child that exits when our stdin pipe closes is released by the kernel however we end (an
 * alarm SIGKILL included), so no stale lock file ever needs breaking. `cat` echoing a byte back
 * tells us the lock is ours. `path` must be in a root-owned directory (the caller's spool).
 */
export async function acquireNodeLock(path: string, opts: LockOptions): Promise<HeldLock> {
  const flock = requireExecutable({ file: 'flock', pkg: 'util-linux' }, 'the node lock (SPOOL_DIR/node.lock)');
  const started = performance.now();
  const seconds = Math.max(1, Math.ceil(opts.timeoutMs / 1000));
  const child = spawn(flock, ['--exclusive', '--timeout', String(seconds), path, 'cat'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stdin.on('error', () => undefined);
  const waitHint = setTimeout(() => opts.onWait?.(path), 200);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('error', reject);
      void exited.then((code) =>
        reject(
          code === 1
            ? new VtorqueError('TIMEOUT', `could not take the node lock ${path} within ${seconds} s: another vTorque hook holds it`, { fault: 'node' })
            : new VtorqueError('COMMAND_FAILED', `flock ${path} failed (exit ${code}${stderr ? `: ${stderr.trim()}` : ''})`, { fault: 'node' }),
        ),
      );
      child.stdin.write('x');
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(waitHint);
  }
  const waitedMs = Math.round(performance.now() - started);
  let released = false;
  return {
    waitedMs,
    async release() {
      if (released) return;
      released = true;
      child.stdin.end();
      await exited;
    },
  };
}

/** Run `fn` holding the node lock. */
export async function withNodeLock<T>(path: string, opts: LockOptions, fn: (held: HeldLock) => Promise<T>): Promise<T> {
  const held = await acquireNodeLock(path, opts);
  try {
    return await fn(held);
  } finally {
    await held.release();
  }
}
