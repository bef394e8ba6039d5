import { faultOf, VtorqueError, type Fault } from '../core/errors.js';

export { faultOf, type Fault };

/** A cancel the job owner asked for (epilogue.precancel's marker) while the VMs were booting. */
export function cancelled(message: string): VtorqueError {
  return new VtorqueError('CANCELLED', message, { fault: 'cancel' });
}

/** One line for the job's output: the reason, without stack or internal detail. */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').slice(0, 3).join('; ').slice(0, 600);
}
