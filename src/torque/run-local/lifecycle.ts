import { SpoolFollower } from './follow.js';
import { startJob, type JobStart, type RunningJob } from './job.js';
import { epilogueArgs, prologueArgs, runHook, type HookIo, type HookJob, type MomRuntime } from './mom.js';
import { resourcesUsed } from './resources.js';
import { closeSpoolFds, giveJobScript, openSpoolFiles, readSpoolFile, type JobFiles } from './stage.js';
import type { AttemptRecord, HookRecord, LiveEvent, MomHook, RunLocalVerdict } from './types.js';
import { exitStatusAfterPrologue, prologueOutcome, TORQUE_EXIT } from './verdict.js';

/** Torque's default kill_delay: SIGKILL this long after a qdel's SIGTERM. */
const KILL_DELAY_MS = 2000;
/** After a walltime SIGTERM (the brief for run-local). */
const WALLTIME_KILL_MS = 5000;
const NULL_IO: HookIo = { stdout: 'ignore', stderr: 'ignore' };

export interface LifecycleInput {
  readonly mom: MomRuntime;
  readonly job: HookJob;
  readonly files: JobFiles;
  readonly owner: { readonly uid: number; readonly gid: number };
  readonly maxStarts: number;
  readonly cancelAfterSec: number | null;
  readonly walltimeSec: number | null;
  readonly body: Omit<JobStart, 'stdout' | 'stderr'>;
  /** Live progress (each step's start and end, the spool files followed); null: none. */
  readonly live: ((event: LiveEvent) => void) | null;
  /** Milliseconds since run-local began, for the live events. */
  readonly clock: () => number;
}

export interface LifecycleOutcome {
  readonly verdict: Exclude<RunLocalVerdict, 'not-submitted'>;
  readonly exitStatus: number;
  readonly canceled: boolean;
  readonly attempts: readonly AttemptRecord[];
  readonly hooks: readonly HookRecord[];
  /**
   * What Torque copies back to the user's .o/.e (observed on a real pbs_mom 6.1.3): the spool
   * files of a start that ran the job or was requeued, each overwriting the one before; nothing
   * of a start whose prologue aborted (exit 1). Null: nothing was ever delivered.
   */
  readonly delivered: { readonly stdout: string; readonly stderr: string } | null;
}

/**
 * One job from its first start to its end, as pbs_mom and the server drive it: prologue; the body
 * or an abort or a requeue (epilogue every time, then start again at once, up to maxStarts);
 * qdel (--cancel-after) and the walltime limit with epilogue.precancel first, as the owner.
 */
export async function runLifecycle(input: LifecycleInput): Promise<LifecycleOutcome> {
  const { mom, job, files, live, clock } = input;
  const hooks: HookRecord[] = [];
  const attempts: AttemptRecord[] = [];
  let canceled = false;
  let running: RunningJob | null = null;
  let precancel: Promise<unknown> = Promise.resolve();
  let cancelTimer: NodeJS.Timeout | undefined;
  let start = 0;
  let follower: SpoolFollower | null = null;
  const note = (text: string): void => live?.({ kind: 'note', atMs: clock(), start, text });

  const hook = async (name: MomHook, args: string[], io: HookIo): Promise<number> => {
    const at = start;
    if (name !== 'epilogue.precancel') follower?.begin(name);
    live?.({ kind: 'begin', atMs: clock(), start: at, step: name });
    const record = await runHook(mom, name, args, io);
    if (name !== 'epilogue.precancel') follower?.end();
    if (record) hooks.push(record);
    if (record) live?.({ kind: 'end', atMs: clock(), start: at, step: name, rc: record.rc, ms: record.ms });
    else note(`no ${name} in ${mom.momPriv}: carries on as if it exited 0`);
    return record?.rc ?? 0;
  };
  // pbs_mom runs precancel synchronously before the SIGTERM, so the epilogue also waits for it.
  const runPrecancel = (exitStatus: number): Promise<unknown> => {
    const sessionId = running ? String(running.pid) : '0';
    precancel = precancel.then(() => hook('epilogue.precancel', epilogueArgs(job, { sessionId, resourcesUsed: '', exitStatus }), NULL_IO));
    return precancel;
  };
  const cancel = (): void => {
    canceled = true;
    note(`qdel (--cancel-after ${input.cancelAfterSec} s): epilogue.precancel, then SIGTERM to the job`);
    void runPrecancel(0).then(() => running?.terminate(KILL_DELAY_MS));
  };

  const runBody = async (io: { stdout: number; stderr: number }): Promise<{ exitStatus: number; sessionId: string; wallSec: number }> => {
    follower?.begin('job');
    live?.({ kind: 'begin', atMs: clock(), start, step: 'job' });
    const started = await startJob({ ...input.body, stdout: io.stdout, stderr: io.stderr });
    running = started;
    if (canceled) void precancel.then(() => started.terminate(KILL_DELAY_MS)); // qdel raced the start
    let overLimit = false;
    const limit =
      input.walltimeSec === null
        ? undefined
        : setTimeout(() => {
            overLimit = true;
            note(`walltime ${input.walltimeSec} s reached: epilogue.precancel, then SIGTERM to the job`);
            void runPrecancel(TORQUE_EXIT.overWalltime).then(() => started.terminate(WALLTIME_KILL_MS));
          }, input.walltimeSec * 1000);
    const status = await started.finished;
    clearTimeout(limit);
    running = null;
    const wallSec = (performance.now() - started.startedAt) / 1000;
    const exitStatus = overLimit ? TORQUE_EXIT.overWalltime : status;
    follower?.end();
    live?.({ kind: 'end', atMs: clock(), start, step: 'job', rc: exitStatus, ms: Math.round(wallSec * 1000) });
    return { exitStatus, sessionId: String(started.pid), wallSec };
  };

  let final: { verdict: LifecycleOutcome['verdict']; exitStatus: number } | null = null;
  let delivered: LifecycleOutcome['delivered'] = null;
  try {
    for (start = 1; start <= input.maxStarts && !canceled && final === null; start++) {
      const t0 = performance.now();
      if (start === 1 && input.cancelAfterSec !== null) cancelTimer = setTimeout(cancel, input.cancelAfterSec * 1000);
      const io = openSpoolFiles(files, input.owner, { readers: live !== null });
      try {
        if (live && io.readers) follower = new SpoolFollower(start, io.readers, live, clock);
        // pbs_mom hands the job script to its owner as the job starts, before (or while) the
        // prologue runs (start_exec.c: right after forking the starter): the hooks see it as his.
        giveJobScript(files, input.owner);
        const prologueRc = await hook('prologue', prologueArgs(job), io);
        const outcome = prologueOutcome(prologueRc);
        let facts = { exitStatus: 0, sessionId: '0', wallSec: 0 };
        if (canceled) facts.exitStatus = TORQUE_EXIT.deleted; // G10: the prologue ran on, the body never starts
        else if (outcome === 'run') facts = await runBody(io);
        else facts.exitStatus = exitStatusAfterPrologue(outcome);
        if (outcome !== 'requeue' || canceled) {
          clearTimeout(cancelTimer);
          final = { verdict: outcome === 'run' && facts.sessionId !== '0' ? 'run' : 'aborted', exitStatus: facts.exitStatus };
        }
        await precancel;
        const { exitStatus, sessionId, wallSec } = facts;
        const epilogueRc = await hook('epilogue', epilogueArgs(job, { sessionId, resourcesUsed: resourcesUsed(wallSec), exitStatus }), io);
        attempts.push({ prologueRc, epilogueRc, exitStatus, ms: Math.round(performance.now() - t0) });
        if (outcome !== 'abort') delivered = { stdout: readSpoolFile(files.stdout, input.owner), stderr: readSpoolFile(files.stderr, input.owner) };
      } finally {
        follower?.stop();
        follower = null;
        closeSpoolFds(io);
      }
    }
    await precancel;
  } finally {
    clearTimeout(cancelTimer);
  }
  final ??= canceled ? { verdict: 'aborted', exitStatus: TORQUE_EXIT.deleted } : { verdict: 'requeued-limit', exitStatus: TORQUE_EXIT.prologueRetry };
  return { ...final, canceled, attempts, hooks, delivered };
}
