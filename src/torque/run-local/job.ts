import { basename } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import { killSession, startSession } from './session.js';
import { jobExitStatus } from './verdict.js';

/**
 * The job body as pbs_mom 6.1 starts it (start_exec.c): the owner's login shell with argv[0]
 * "-<shell>", in a session of its own, reading `<.SC path> [-F args]` from a pipe, so the script
 * runs with $0 = the .SC path; stdout/stderr are the spool files.
 */
export interface JobEnvFacts {
  readonly momEnv: Readonly<Record<string, string>>;
  /** Variable_List: the PBS_O_* qsub recorded plus -v/-V variables. */
  readonly variables: ReadonlyMap<string, string>;
  readonly owner: { readonly name: string; readonly home: string; readonly shell: string };
  readonly jobId: string;
  readonly jobName: string;
  readonly queue: string;
  /** `<TORQUE_HOME>/aux/<jobid>` (single slash, as the job sees it). */
  readonly nodefile: string;
  readonly ppn: number;
}

/** The mom's environment, then Variable_List, then what pbs_mom sets for every job. */
export function jobEnv(f: JobEnvFacts): Record<string, string> {
  return {
    ...f.momEnv,
    ...Object.fromEntries(f.variables),
    HOME: f.owner.home,
    LOGNAME: f.owner.name,
    USER: f.owner.name,
    SHELL: f.owner.shell,
    PBS_JOBNAME: f.jobName,
    PBS_JOBID: f.jobId,
    PBS_QUEUE: f.queue,
    PBS_NODEFILE: f.nodefile,
    PBS_NODENUM: '0',
    PBS_ENVIRONMENT: 'PBS_BATCH',
    PBS_NP: String(f.ppn),
    PBS_NUM_NODES: '1',
    PBS_NUM_PPN: String(f.ppn),
    PBS_TASKNUM: '1',
    PBS_VNODENUM: '0',
  };
}

/** The one line the login shell reads: the script path, then -F's words for the shell to split. */
export function jobCommandLine(script: string, fArgs: string | null): string {
  return fArgs === null || fArgs === '' ? `${script}\n` : `${script} ${fArgs}\n`;
}

export interface JobStart {
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly owner: { readonly uid: number; readonly gid: number; readonly shell: string };
  readonly commandLine: string;
  readonly stdout: number;
  readonly stderr: number;
  readonly setpriv: string;
  readonly bash: string;
  readonly ipNetns: readonly string[];
}

export interface RunningJob {
  /** The login shell's pid: the job's session id (epilogue argv[5]). */
  readonly pid: number;
  readonly startedAt: number;
  /** Torque's exit status: the shell's exit code, or 256 + the signal that ended it. */
  readonly finished: Promise<number>;
  /** SIGTERM the session, SIGKILL it `graceMs` later if it is still there. */
  terminate(graceMs: number): void;
}

/**
 * Start the job as its owner: setpriv (uid, gid, initgroups) and bash's `exec -a` to give the login
 * shell its "-name" argv[0] (setpriv cannot set argv[0]; values stay separate argv words).
 */
export async function startJob(s: JobStart): Promise<RunningJob> {
  const shell = s.owner.shell;
  const command = [
    ...s.ipNetns,
    s.setpriv, `--reuid=${s.owner.uid}`, `--regid=${s.owner.gid}`, '--init-groups', '--',
    s.bash, '-c', 'exec -a "$0" "$1"', `-${basename(shell)}`, shell,
  ];
  let child;
  try {
    child = await startSession(command, { env: s.env, cwd: s.cwd, stdin: 'pipe', stdout: s.stdout, stderr: s.stderr });
  } catch (err) {
    throw new VtorqueError('COMMAND_FAILED', `cannot start the job shell ${shell} in ${s.cwd}: ${(err as Error).message}`, { cause: err, fault: 'node' });
  }
  child.stdin?.end(s.commandLine);
  let done = false;
  let killTimer: NodeJS.Timeout | undefined;
  const finished = child.exited.then(({ code, signal }) => {
    done = true;
    if (killTimer) clearTimeout(killTimer);
    return jobExitStatus(code, signal);
  });
  const pid = child.pid;
  return {
    pid,
    startedAt: performance.now(),
    finished,
    terminate(graceMs) {
      if (done) return;
      killSession(pid, 'SIGTERM');
      killTimer ??= setTimeout(() => {
        if (!done) killSession(pid, 'SIGKILL');
      }, graceMs);
    },
  };
}
