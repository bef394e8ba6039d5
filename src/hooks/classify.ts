import { CapacityError } from '../engine/index.js';
import { VtorqueError } from '../core/errors.js';

/**
 * Is this failure the job's (its request, the site policy, a cancel: requeueing cannot help) or
 * the node's (libvirt, a guest that did not come up, a timeout: another try may work)?
 */
export function isRequestError(err: unknown): boolean {
  if (err instanceof CapacityError) return true;
  if (!(err instanceof VtorqueError)) return false;
  return ['REQUEST_INVALID', 'REQUEST_UNKNOWN_KEY', 'IMAGE_NOT_AUTHORIZED', 'NOT_SUPPORTED', 'CAPACITY', 'USAGE'].includes(err.code);
}

/** One line for the job's output: the reason, without stack or internal detail. */
export function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').slice(0, 3).join('; ').slice(0, 600);
}
