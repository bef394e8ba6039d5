import type { SubmitIo } from '../shared/process.js';

/** What vsbatch needs from its process: environment, streams and the sbatch it runs (tests pass their own). */
export interface VsbatchDeps extends SubmitIo {
  /** Run sbatch with stdout/stderr passed through; `input` becomes its stdin when given. */
  runSbatch(file: string, args: readonly string[], input: string | null): Promise<number>;
}
