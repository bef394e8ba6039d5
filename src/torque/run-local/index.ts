import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { displayValue, VtorqueError } from '../../core/errors.js';
import { findExecutable } from '../../core/exec/which.js';
import { formatRunLocal } from './format.js';
import { jobCommandLine, jobEnv } from './job.js';
import { runLifecycle } from './lifecycle.js';
import { readMomEnv, type HookJob, type MomRuntime } from './mom.js';
import { buildQsubRequest, type QsubRequest } from './qsub-request.js';
import { resolveResources } from './resources.js';
import { allocateJobId, ensureMomLayout, jobFiles, momLayout, readSpoolFile, removeJobFiles, writeJobScript, writeNodefile, type JobFiles } from './stage.js';
import { submitThroughVsub, type Captured } from './submit.js';
import type { LiveEvent, RunLocalOptions, RunLocalResult } from './types.js';
import { chooseUserName, lookupOwner, requireRoot, type JobOwner } from './user.js';
import { effectiveAlarmSeconds, PROLOG_ALARM_DEFAULT, readPrologAlarm } from '../mom-config.js';

export { formatLiveEvent, formatRunLocal } from './format.js';
export { runLocalExitCode } from './verdict.js';
export type { AttemptRecord, HookRecord, LiveEvent, LiveStep, MomHook, RunLocalOptions, RunLocalResult, RunLocalVerdict, SubmitRecord } from './types.js';

/**
 * `vtorque run-local`: one job's whole life on this machine as pbs_mom 6.1 would live it, with the
 * hooks installed in `<TORQUE_HOME>/mom_priv`. Submits through the real vsub as the owner (qsub
 * replaced by a capture script), stages the job like pbs_mom, runs prologue / job / epilogue
 * (requeues, aborts, alarm, qdel, walltime), prints the job's output and returns the record;
 * `live` gets the spool output and each step as they happen.
 */
export async function runLocal(options: RunLocalOptions): Promise<RunLocalResult> {
  const began = performance.now();
  const clock = (): number => performance.now() - began;
  requireRoot();
  checkOptions(options);
  const live = guardLive(options.live ?? null);
  const { config } = options;
  const owner = await lookupOwner(chooseUserName(options.user, options.env ?? process.env));
  const tool = (name: string): string => {
    const path = findExecutable(name);
    if (path === null) throw new VtorqueError('NOT_SUPPORTED', `run-local needs ${name}, which is not installed on this node`, { fault: 'node' });
    return path;
  };
  const setpriv = tool('setpriv');
  const ipNetns = options.netns === undefined ? [] : [tool('ip'), 'netns', 'exec', options.netns];
  const host = (hostname().split('.')[0] as string) || 'localhost';
  const layout = momLayout(config.TORQUE_HOME);
  ensureMomLayout(layout);
  const files = jobFiles(layout, allocateJobId(config.SPOOL_DIR, host, layout));

  const { record, captured } = await submitThroughVsub({
    config, vsubCommand: options.vsubCommand, vsubArgs: options.vsubArgs, owner, setpriv, jobId: files.jobId,
    cwd: options.cwd ?? process.cwd(), stdin: options.stdin ?? 'inherit',
  });
  let result: RunLocalResult;
  if (captured === null) {
    const verdict = 'not-submitted';
    result = { jobId: files.jobId, verdict, exitStatus: record.exitCode, canceled: false, attempts: [], stdout: '', stderr: '', spool: { stdout: '', stderr: '' }, hooks: [], submit: record };
  } else {
    live.sink?.({ kind: 'submitted', atMs: clock(), jobId: files.jobId });
    try {
      const { delivered, ...outcome } = await stageAndRun(options, { owner, files, captured, host, setpriv, ipNetns, bash: tool('bash'), live: live.sink, clock });
      const spool = { stdout: readSpoolFile(files.stdout, owner), stderr: readSpoolFile(files.stderr, owner) };
      result = { jobId: files.jobId, ...outcome, stdout: delivered?.stdout ?? '', stderr: delivered?.stderr ?? '', spool, submit: record };
    } finally {
      if (options.keep !== true) removeJobFiles(files);
    }
  }
  const out = options.out === undefined ? (text: string) => void process.stdout.write(text) : options.out;
  out?.(formatRunLocal(result));
  if (live.failed) {
    throw new VtorqueError('INTERNAL', `run-local: the live progress callback threw (${displayValue(String(live.error))}); job ${files.jobId} was run to its end without it`, { cause: live.error, fault: 'job' });
  }
  return result;
}

/**
 * The caller's live callback, made harmless to the lifecycle: after it throws it gets nothing more,
 * and runLocal throws once the job has been run to its end (epilogue and cleanup included).
 */
function guardLive(callback: ((event: LiveEvent) => void) | null): { sink: ((event: LiveEvent) => void) | null; failed: boolean; error: unknown } {
  const guard: { sink: ((event: LiveEvent) => void) | null; failed: boolean; error: unknown } = { sink: null, failed: false, error: undefined };
  if (callback === null) return guard;
  guard.sink = (event) => {
    if (guard.failed) return;
    try {
      callback(event);
    } catch (err) {
      guard.failed = true;
      guard.error = err;
    }
  };
  return guard;
}

interface StageInput {
  readonly owner: JobOwner;
  readonly files: JobFiles;
  readonly captured: Captured;
  readonly host: string;
  readonly setpriv: string;
  readonly bash: string;
  readonly ipNetns: readonly string[];
  readonly live: ((event: LiveEvent) => void) | null;
  readonly clock: () => number;
}

async function stageAndRun(options: RunLocalOptions, s: StageInput) {
  const { owner, files, captured, host } = s;
  const qsubEnv = new Map([...captured.env].filter(([k]) => k !== 'VTORQUE_CONFIG')); // our temporary copy, gone after the run
  const request = buildQsubRequest(captured.argv, captured.script, qsubEnv);
  if (request.interactive) throw new VtorqueError('NOT_SUPPORTED', 'interactive jobs (qsub -I) are not run by run-local', { fault: 'job' });
  const res = resolveResources(request.resources, options.walltime);
  writeJobScript(files, captured.script);
  writeNodefile(files, host, res.ppn);

  const torqueHome = momLayout(options.config.TORQUE_HOME).torqueHome;
  const momEnv = readMomEnv(torqueHome);
  const workDir = resolveDir(request.workDir, captured.cwd) ?? captured.cwd;
  const prologalarm = options.prologalarm ?? readPrologAlarm(torqueHome) ?? PROLOG_ALARM_DEFAULT;
  const mom: MomRuntime = {
    momPriv: join(torqueHome, 'mom_priv'),
    envFacts: { momEnv, msHost: host, nodefile: files.nodefileForHooks, np: res.np, ppn: res.ppn, workDir, resourceNodes: res.nodes },
    owner,
    alarmSec: effectiveAlarmSeconds(prologalarm),
    setpriv: s.setpriv,
    ipNetns: s.ipNetns,
  };
  const job: HookJob = {
    jobId: files.jobId, user: owner.name, group: owner.group, jobName: request.jobName,
    resources: res.text, queue: request.queue, account: request.account, script: files.script,
  };
  const variables = variableList(request, captured, owner, workDir);
  return runLifecycle({
    mom,
    job,
    files,
    owner,
    maxStarts: options.maxStarts ?? 5,
    cancelAfterSec: options.cancelAfter ?? null,
    walltimeSec: res.walltimeSec,
    live: s.live,
    clock: s.clock,
    body: {
      env: jobEnv({ momEnv, variables, owner, jobId: files.jobId, jobName: request.jobName, queue: request.queue, nodefile: files.nodefile, ppn: res.ppn }),
      cwd: resolveDir(request.initDir, captured.cwd) ?? owner.home,
      owner,
      commandLine: jobCommandLine(files.script, request.fArgs),
      setpriv: s.setpriv,
      bash: s.bash,
      ipNetns: s.ipNetns,
    },
  });
}

/** Variable_List as qsub builds it: PBS_O_* from its environment and cwd, then -v/-V. */
function variableList(request: QsubRequest, captured: Captured, owner: JobOwner, workDir: string): Map<string, string> {
  const env = captured.env;
  const vars = new Map(request.variables);
  const set = (name: string, value: string | undefined): void => void (value === undefined || vars.set(name, value));
  set('PBS_O_HOME', env.get('HOME') ?? owner.home);
  set('PBS_O_LANG', env.get('LANG'));
  set('PBS_O_LOGNAME', env.get('LOGNAME') ?? owner.name);
  set('PBS_O_PATH', env.get('PATH'));
  set('PBS_O_MAIL', env.get('MAIL'));
  set('PBS_O_SHELL', env.get('SHELL') ?? owner.shell);
  set('PBS_O_TZ', env.get('TZ'));
  set('PBS_O_HOST', hostname());
  set('PBS_O_WORKDIR', workDir);
  set('PBS_O_QUEUE', request.queue);
  set('PBS_O_INITDIR', resolveDir(request.initDir, captured.cwd) ?? undefined);
  return vars;
}

function resolveDir(dir: string | null, base: string): string | null {
  if (dir === null || dir === '') return null;
  return isAbsolute(dir) ? dir : join(base, dir);
}

function checkOptions(o: RunLocalOptions): void {
  const bad = (what: string): never => {
    throw new VtorqueError('USAGE', `run-local: ${what}`, { exitCode: 2, fault: 'job' });
  };
  if (o.vsubCommand.length === 0) bad('vsubCommand is empty');
  if (o.maxStarts !== undefined && !(Number.isInteger(o.maxStarts) && o.maxStarts >= 1)) bad('--max-starts must be a positive integer');
  if (o.prologalarm !== undefined && !(Number.isInteger(o.prologalarm) && o.prologalarm >= 1)) bad('--prologalarm must be a positive integer (seconds)');
  if (o.cancelAfter !== undefined && !(Number.isFinite(o.cancelAfter) && o.cancelAfter >= 0)) bad('--cancel-after must be a number of seconds');
  if (o.walltime !== undefined && !(Number.isInteger(o.walltime) && o.walltime >= 1)) bad('--walltime must be a positive integer (seconds)');
  if (o.netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(o.netns)) bad(`--netns ${JSON.stringify(o.netns)} is not a network namespace name`);
}
