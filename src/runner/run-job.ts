import type { SFTPWrapper } from 'ssh2';
import { VtorqueError } from '../core/errors.js';
import { buildJobEnv } from '../guest/index.js';
import { RUNNER_EXIT, signalExitCode } from './exit-codes.js';
import { closeFleet, openFleet, writeEnvEverywhere } from './fleet.js';
import { guestPaths, type GuestPaths } from './guest-paths.js';
import { schedulerGuestEnv } from './guest-env.js';
import { messages } from './messages.js';
import { runnerSettings, type RunJobOptions, type RunnerSettings } from './options.js';
import { remoteCommand } from './remote-command.js';
import { guestWorkdir, jobScheduler, type JobScheduler } from './scheduler-env.js';
import { loadJobRun, readOutcome, type JobRun } from './state/index.js';
import { execStreaming, openSftp, replaceFile, type RemoteExit, type VmSession } from './ssh/index.js';

/** What the steps on rank 0 share. */
interface RankZero {
  readonly o: RunJobOptions;
  readonly settings: RunnerSettings;
  readonly scheduler: JobScheduler;
  readonly job: JobRun;
  readonly paths: GuestPaths;
  readonly session: VmSession;
  readonly sftp: SFTPWrapper;
  readonly say: (line: string) => void;
  /** True while a command runs: an abort then signals it instead of dropping the connection. */
  executing: boolean;
}

/**
 * The job wrapper's body, run as the job user on the job's first node (Torque's mother superior,
 * Slurm's batch step), started by Torque or Slurm (told by the job env): put the job's environment
 * into every VM, then run vm_prologue, the job script and vm_epilogue in the rank-0 VM over SSH,
 * streaming their output. Returns the job script's exit code (128 + n when a signal killed it),
 * 255 when SSH failed, 143 when cancelled. Failures are one `vTorque: …` line on stderr.
 */
export async function runJob(o: RunJobOptions): Promise<number> {
  const say = (line: string): void => void o.stderr.write(`vTorque: ${line}\n`);
  let from = 'the scheduler';
  try {
    const settings = runnerSettings(o);
    const scheduler = jobScheduler(o.env);
    from = scheduler.name;
    return await runJobSteps(o, settings, scheduler, say);
  } catch (err) {
    if (o.signal?.aborted) {
      say(messages.cancelledBeforeStart(from));
      return RUNNER_EXIT.aborted;
    }
    if (err instanceof VtorqueError) {
      say(err.message);
      return err.exitCode;
    }
    throw err;
  }
}

async function runJobSteps(o: RunJobOptions, settings: RunnerSettings, scheduler: JobScheduler, say: (line: string) => void): Promise<number> {
  // The prologue could not start the VMs and let the job run only to say why (the scheduler
  // delivers nothing of an aborted prologue): say it where the owner reads it, end with its exit code.
  const outcome = readOutcome(o.config, scheduler);
  if (outcome) {
    say(outcome.reason);
    return outcome.exitCode;
  }
  const job = loadJobRun(o.config, scheduler);
  const paths = guestPaths(settings.guestRoot, job.guestJobDir);
  const guestEnv = schedulerGuestEnv(scheduler, o.env, paths.nodeFile, job.vms);
  if (guestEnv.skipped.length > 0) say(messages.notPassed(guestEnv.skipped));
  const envFile = buildJobEnv(guestEnv.vars, o.renderTemplates);
  const fleet = await openFleet(job, settings, o.signal);
  let rank0: RankZero | null = null;
  const onAbort = (): void => {
    for (const s of fleet.sessions) if (!(s === fleet.rank0 && rank0?.executing)) s.destroy('cancelled', 'cancel');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (o.signal?.aborted) onAbort();
    await writeEnvEverywhere(fleet, paths.envFile, envFile, settings.parallel);
    const sftp = await openSftp(fleet.rank0);
    rank0 = { o, settings, scheduler, job, paths, session: fleet.rank0, sftp, say, executing: false };
    return await runOnRankZero(rank0);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    closeFleet(fleet);
  }
}

async function runOnRankZero(r: RankZero): Promise<number> {
  if (r.job.vmPrologue !== null) {
    const code = exitCode(r, 'vm_prologue', await runScript(r, r.paths.vmPrologue, r.job.vmPrologue, []));
    if (code === null) return cancelled(r);
    if (code !== 0) {
      r.say(messages.prologueFailed(code));
      return code;
    }
  }
  const code = exitCode(r, 'the job script', await runScript(r, r.paths.jobScript, r.job.script, r.o.args));
  if (code === null) return cancelled(r);
  return r.job.vmEpilogue === null ? code : runEpilogue(r, r.job.vmEpilogue, code);
}

/**
 * vm_epilogue after the job script. Its failure, even a lost connection (the job's exit status is
 * already in), is reported but leaves the job's exit code; only a cancel turns it into 143.
 */
async function runEpilogue(r: RankZero, content: string, jobCode: number): Promise<number> {
  try {
    const code = exitCode(r, 'vm_epilogue', await runScript(r, r.paths.vmEpilogue, content, []));
    if (code === null) return cancelled(r);
    if (code !== 0) r.say(messages.epilogueFailed(code, jobCode));
  } catch (err) {
    if (r.o.signal?.aborted) return cancelled(r);
    if (!(err instanceof VtorqueError)) throw err;
    r.say(messages.epilogueNotRun(err.message, jobCode));
  }
  return jobCode;
}

/** Upload a script to rank 0 (0700, atomically) and run it there with the job's cwd and environment. */
async function runScript(r: RankZero, path: string, content: string | Buffer, args: readonly string[]): Promise<RemoteExit> {
  if (r.o.signal?.aborted) return { kind: 'aborted' };
  await replaceFile(r.session, r.sftp, path, content, 0o700);
  const command = remoteCommand({ workdir: guestWorkdir(r.scheduler, r.o.env, r.settings.cwd), envFile: r.paths.envFile, program: path, args });
  r.executing = true;
  try {
    return await execStreaming(r.session, command, { stdout: r.o.stdout, stderr: r.o.stderr, signal: r.o.signal, graceMs: r.settings.graceMs });
  } finally {
    r.executing = false;
  }
}

/** The shell's view of how a command ended; null when we cancelled it. */
function exitCode(r: RankZero, what: string, result: RemoteExit): number | null {
  if (result.kind === 'aborted') return null;
  if (result.kind === 'code') return result.code;
  r.say(messages.killedBy(what, r.session.vm, result.signal));
  return signalExitCode(result.signal) ?? RUNNER_EXIT.setup;
}

function cancelled(r: RankZero): number {
  r.say(messages.cancelled(r.session.vm, r.scheduler.name));
  return RUNNER_EXIT.aborted;
}
