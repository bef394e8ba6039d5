import { VtorqueError, type ErrorCode, type Fault, type VtorqueErrorOptions } from '../core/errors.js';

export type TestbedOp = 'up' | 'down' | 'status' | 'exec';

/** A testbed operation failed: which operation, then what and why (`testbed up: node vtqtb-n2: …`). */
export class TestbedError extends VtorqueError {
  readonly op: TestbedOp;

  constructor(op: TestbedOp, code: ErrorCode, message: string, options: VtorqueErrorOptions & { readonly fault: Fault }) {
    super(code, `testbed ${op}: ${message}`, options);
    this.op = op;
  }
}
