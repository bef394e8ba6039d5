import { shellQuote } from '../core/render/index.js';

export interface RemoteCommandSpec {
  /** The job's working directory (Torque's PBS_O_WORKDIR, Slurm's batch step cwd); '' or undefined = the user's home. */
  readonly workdir: string | undefined;
  readonly envFile: string;
  readonly program: string;
  readonly args: readonly string[];
}

/**
 * The one command line sshd hands to the user's shell: fixed text and shell-quoted values only.
 * cwd = workdir when it exists, else home; the job environment is sourced; the program replaces the
 * shell (a script without `#!` still runs: the shell falls back on ENOEXEC). Its stdin is /dev/null:
 * the channel itself stays open, since ssh2 sends no signal request on a channel whose stdin ended.
 */
export function remoteCommand(spec: RemoteCommandSpec): string {
  const cd = spec.workdir ? `cd ${shellQuote(spec.workdir)} 2>/dev/null || cd; ` : 'cd; ';
  const argv = [spec.program, ...spec.args].map(shellQuote).join(' ');
  return `${cd}. ${shellQuote(spec.envFile)}; exec ${argv} </dev/null`;
}
