import type { SubmitIo } from '../shared/process.js';

/** What vsbatch needs from its process: environment, streams and the sbatch it runs (tests pass their own). */
export interface VsbatchDeps extends SubmitIo {
  /** Run sbatch with stdout/stderr passed through; `input` becomes its stdin when given. */
  runSbatch(file: string, args: readonly string[], input: string | null, onStdout?: (text: string) => void): Promise<number>;
  /** `scontrol show job ID` as the user (for --follow): its text, or null when the controller no longer has the job. */
  showJob?(scontrol: string, jobId: string): Promise<string | null>;
  /** Waits between two looks (tests pass their own). */
  sleep?(ms: number): Promise<void>;
}
