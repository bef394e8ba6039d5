import { VtorqueError, type ErrorCode, type Fault, type VtorqueErrorOptions } from '../core/errors.js';

export type SandboxOp = 'up' | 'down' | 'status' | 'options';

/** A sandbox operation failed: which operation, then what and why (`sandbox up: …`), and whose fault (the site says). */
export class SandboxError extends VtorqueError {
  readonly op: SandboxOp;

  constructor(op: SandboxOp, code: ErrorCode, message: string, options: VtorqueErrorOptions & { readonly fault: Fault }) {
    super(code, `sandbox ${op}: ${message}`, options);
    this.op = op;
  }
}
