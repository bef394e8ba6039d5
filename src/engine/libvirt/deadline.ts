import { VtorqueError } from '../../core/errors.js';

/** A step that did not finish before its deadline (the underlying call may still be running). The node's. */
export class DeadlineError extends VtorqueError {
  readonly what: string;
  readonly limitMs: number;
  constructor(what: string, limitMs: number) {
    super('COMMAND_FAILED', `${what}: no answer within ${limitMs} ms`, { fault: 'node' });
    this.what = what;
    this.limitMs = limitMs;
  }
}

/**
 * `work`, or a DeadlineError once `limitMs` has passed. A native libvirt call cannot be cancelled,
 * so `onLate` receives the value if it arrives after the deadline (to undo what it did).
 */
export function withDeadline<T>(work: Promise<T>, limitMs: number, what: string, onLate?: (value: T) => void): Promise<T> {
  if (limitMs <= 0) {
    if (onLate) work.then(onLate, () => undefined);
    else work.catch(() => undefined);
    return Promise.reject(new DeadlineError(what, Math.max(0, limitMs)));
  }
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new DeadlineError(what, limitMs));
    }, limitMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        if (late) onLate?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!late) reject(err);
      },
    );
  });
}
