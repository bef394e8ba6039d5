import { VtorqueError, type ErrorCode, type VtorqueErrorOptions } from '../core/errors.js';

export type SandboxOp = 'up' | 'down' | 'status' | 'options';

/** A sandbox operation failed: which operation, then what and why (`sandbox up: …`). */
export class SandboxError extends VtorqueError {
  readonly op: SandboxOp;

  constructor(op: SandboxOp, code: ErrorCode, message: string, options: VtorqueErrorOptions = {}) {
    super(code, `sandbox ${op}: ${message}`, options);
    this.op = op;
  }
}
