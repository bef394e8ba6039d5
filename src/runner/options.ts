import { isAbsolute } from 'node:path';
import type { Writable } from 'node:stream';
import type { SiteConfig } from '../core/config/index.js';
import { VtorqueError } from '../core/errors.js';
import type { Renderer } from '../core/render/index.js';
import { RUNNER_EXIT } from './exit-codes.js';
import type { SshLimits } from './ssh/index.js';

export interface RunJobOptions {
  readonly config: SiteConfig;
  /** The job's environment as its scheduler set it (Torque: PBS_JOBID, PBS_O_WORKDIR, …; Slurm: SLURM_JOB_ID, …). */
  readonly env: NodeJS.ProcessEnv;
  /**
   * The directory the runner was started in (runJobFromProcess: process.cwd()): under Slurm the
   * job's working directory (sbatch --chdir), where the job starts in the guest. Torque ignores it
   * (PBS_O_WORKDIR). Absent = the user's home in the guest; must be absolute.
   */
  readonly cwd?: string;
  /** The job script's arguments (`qsub -F`, sbatch's after the script), passed as "$1" "$2" … */
  readonly args: readonly string[];
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Renderer over the app's root-owned `templates/` (guest-env.sh.hbs). */
  readonly renderTemplates: Renderer;
  /** Aborted when the scheduler sends SIGTERM (qdel, scancel, a time limit). */
  readonly signal?: AbortSignal;
  /**
   * TESTS ONLY. Replaces the guest's `/var/spool/torque` (vm/ and aux/ below it), so a test can
   * point the runner at an sshd on the test machine without touching that machine's Torque spool.
   * Default '' = the real guest paths. Production callers never set it.
   */
  readonly guestRoot?: string;
  /** TESTS ONLY. SSH port of every VM (default 22). */
  readonly port?: number;
  /** Seconds between TERM and giving up on the remote command after an abort (default 5). */
  readonly termGraceSeconds?: number;
}

export interface RunnerSettings {
  readonly guestRoot: string;
  readonly cwd: string | undefined;
  readonly port: number;
  readonly graceMs: number;
  readonly ssh: SshLimits;
  /** SSH sessions opened at once (writing job.env into every VM). */
  readonly parallel: number;
}

/** Defaults and checks, before anything is read or connected. */
export function runnerSettings(o: RunJobOptions): RunnerSettings {
  const port = o.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw usage('port', 'an integer 1..65535', port);
  const grace = o.termGraceSeconds ?? 5;
  if (!Number.isFinite(grace) || grace < 0 || grace > 60) throw usage('termGraceSeconds', 'a number of seconds 0..60', grace);
  if (o.cwd !== undefined && !isAbsolute(o.cwd)) throw usage('cwd', 'an absolute path', o.cwd);
  return {
    guestRoot: o.guestRoot ?? '',
    cwd: o.cwd,
    port,
    graceMs: grace * 1000,
    ssh: { readyTimeoutMs: o.config.SSH_TIMEOUT * 1000, keepaliveIntervalMs: 15_000, keepaliveCountMax: 4 },
    parallel: o.config.PARALLEL ? 8 : 1,
  };
}

function usage(option: string, expected: string, value: unknown): VtorqueError {
  return new VtorqueError('USAGE', `runJob: expected the \`${option}\` option to be ${expected}, got ${String(value)} (${typeof value})`, { exitCode: RUNNER_EXIT.usage, fault: 'job' });
}
