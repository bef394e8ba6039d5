import type { SiteConfig } from '../../core/config/index.js';

/** The hooks pbs_mom runs on the mother superior of a single-node job (the *.parallel ones run on sisters only). */
export type MomHook = 'prologue' | 'epilogue' | 'epilogue.precancel';

export interface RunLocalOptions {
  readonly config: SiteConfig;
  /** How to start vsub, e.g. [process.execPath, '<root>/dist/vsub.mjs']. */
  readonly vsubCommand: readonly string[];
  /** Everything after `--`: vsub's own arguments (qsub options, -vm, the script). */
  readonly vsubArgs: readonly string[];
  /** Job owner; default SUDO_USER. Never root. */
  readonly user?: string;
  /** Overrides `$prologalarm` from mom_priv/config (Torque default 300). */
  readonly prologalarm?: number;
  /** Run every hook and the job inside `ip netns exec NS`. */
  readonly netns?: string;
  /** Starts before a prologue that keeps asking for a requeue is given up (default 5). */
  readonly maxStarts?: number;
  /** qdel the job this many seconds after the first prologue started. */
  readonly cancelAfter?: number;
  /** Walltime limit in seconds; overrides -l walltime. */
  readonly walltime?: number;
  /** Keep the .SC, the node file and the spool files. */
  readonly keep?: boolean;
  /** The invoking directory (default process.cwd()). */
  readonly cwd?: string;
  /** The invoking environment, read for SUDO_USER only (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** vsub's stdin: text, or the invoker's own stdin (default), for scripts read from STDIN. */
  readonly stdin?: string | 'inherit';
  /** Where the job output and the final line go; null prints nothing (default: process stdout). */
  readonly out?: ((text: string) => void) | null;
  /**
   * Live progress: each line the hooks and the job write to the spool .OU/.ER, labelled, as it is
   * written (polled about every 200 ms), and each step's start and end. Default: none (quiet);
   * `formatLiveEvent` renders an event as the CLI prints it. What the result records is the same
   * with or without it. A callback that throws gets no further events; runLocal then throws once
   * the job has been run to its end.
   */
  readonly live?: ((event: LiveEvent) => void) | null;
}

/** What ran during one start: the hooks with spool output, the job body, precancel (no output). */
export type LiveStep = 'prologue' | 'job' | 'epilogue' | 'epilogue.precancel';

/** One live progress event; `atMs` counts from the moment runLocal was called (the submission). */
export type LiveEvent =
  | { readonly kind: 'submitted'; readonly atMs: number; readonly jobId: string }
  /** A step starts (start: 1 for the first start, 2… after requeues). */
  | { readonly kind: 'begin'; readonly atMs: number; readonly start: number; readonly step: LiveStep }
  /** A step ended: a hook's result as pbs_mom reads it, or the job's exit status. */
  | { readonly kind: 'end'; readonly atMs: number; readonly start: number; readonly step: LiveStep; readonly rc: number; readonly ms: number }
  /**
   * A line the step wrote to its spool file, decoded as UTF-8, without its newline, not sanitized.
   * `partial`: written without a newline (shown after about a second, or when the step ended), or
   * cut at the line bound; the rest follows as another event.
   */
  | {
      readonly kind: 'output';
      readonly atMs: number;
      readonly start: number;
      readonly step: Exclude<LiveStep, 'epilogue.precancel'>;
      readonly stream: 'stdout' | 'stderr';
      readonly text: string;
      readonly partial: boolean;
    }
  /** Something run-local did or could not do: qdel, walltime, a stream no longer followed. */
  | { readonly kind: 'note'; readonly atMs: number; readonly start: number; readonly text: string };

export type RunLocalVerdict = 'run' | 'aborted' | 'requeued-limit' | 'not-submitted';

/** One start of the job: what the prologue and the epilogue returned. */
export interface AttemptRecord {
  readonly prologueRc: number;
  readonly epilogueRc: number;
  /** Exit status the epilogue was given (argv[10]). */
  readonly exitStatus: number;
  readonly ms: number;
}

/** One hook run (or refusal): `argv` is exactly what the hook got, argv[0] = its path. */
export interface HookRecord {
  readonly hook: MomHook;
  readonly rc: number;
  readonly ms: number;
  readonly argv: readonly string[];
}

export interface SubmitRecord {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** What vsub handed to qsub (empty when it never called qsub). */
  readonly qsubArgv: readonly string[];
}

export interface RunLocalResult {
  readonly jobId: string;
  readonly verdict: RunLocalVerdict;
  /** Torque's exit_status: the job's, or -2 (prologue abort), -14 (prologue retry), -11 (walltime), 271 (qdel); vsub's exit code when not submitted. */
  readonly exitStatus: number;
  /** True when --cancel-after fired before the job finished. */
  readonly canceled: boolean;
  readonly attempts: readonly AttemptRecord[];
  /**
   * What the user gets back as .o / .e, as a real pbs_mom delivers it: the last start that ran the
   * job or was requeued ('' when nothing was ever delivered: a prologue that aborted delivers nothing).
   */
  readonly stdout: string;
  readonly stderr: string;
  /** The last start's spool .OU and .ER, delivered or not (an abort leaves them in the spool). */
  readonly spool: { readonly stdout: string; readonly stderr: string };
  readonly hooks: readonly HookRecord[];
  readonly submit: SubmitRecord;
}
