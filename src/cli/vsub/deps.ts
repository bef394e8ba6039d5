import type { SubmitIo } from '../shared/process.js';

/** What vsub needs from its process: environment, streams and the qsub it runs (tests pass their own). */
export interface VsubDeps extends SubmitIo {
  /** Run qsub with stdout/stderr passed through; `input` becomes its stdin when given. */
  runQsub(file: string, args: readonly string[], input: string | null): Promise<number>;
}
