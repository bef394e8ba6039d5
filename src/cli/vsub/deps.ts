import type { AppLayout } from '../../core/install/paths.js';

/** What vsub needs from its process: environment, streams and the qsub it runs (tests pass their own). */
export interface VsubDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly hostname: string;
  readonly nodePath: string;
  readonly layout: AppLayout;
  readStdin(): Promise<string>;
  out(text: string): void;
  err(text: string): void;
  /** Run qsub with stdout/stderr passed through; `input` becomes its stdin when given. */
  runQsub(file: string, args: readonly string[], input: string | null): Promise<number>;
}
