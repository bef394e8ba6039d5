import { readdirSync } from 'node:fs';
import type { SiteConfig } from '../../core/config/index.js';
import { run } from '../../core/exec/run.js';
import { lstatNoFollow } from '../../core/fs/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import { stopJobHere, stopJobPartHere, type EngineLog } from '../../lifecycle/index.js';
import type { HookContext } from './context.js';
import { momPaths } from '../torque-home.js';

export interface EpilogueDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly env: NodeJS.ProcessEnv;
  readonly log: EngineLog;
  readonly say: (line: string) => void;
  /** Seconds pbs_mom gives an epilogue before it SIGKILLs the session (the same $prologalarm as the prologue's). */
  readonly alarmSeconds: number;
  /** The site config this hook read, for the node agent a sister tears its VMs down through. */
  readonly configPath: string;
}

/** The stop returns this long before pbs_mom's alarm, done or not, to say what is left and exit on its own. */
const ALARM_MARGIN_SECONDS = 5;

/**
 * epilogue (mother superior) / epilogue.parallel (sister) for a VM job: the lifecycle's stop on
 * this node, from root's record (only the head has one), this node's spool and libvirt only, never
 * the owner-writable .SC (a sister has none); then Torque's part: kill the owner's leftover
 * processes only where the node was this job's alone (mom_priv/jobs says so). Bounded by pbs_mom's
 * alarm. The mother superior's exit code is only logged by pbs_mom; a sister's non-zero one would
 * mark the node down (torque-hook-contract.md G5) for what gc retries anyway, so a sister keeps the
 * site's own verdict (.orig) and only says what is left.
 */
export async function runEpilogue(ctx: HookContext, deps: EpilogueDeps): Promise<number> {
  const c = deps.config;
  const sister = ctx.hook === 'epilogue.parallel';
  const stopDeps = { ...deps, deadlineAt: Date.now() + Math.max(1, deps.alarmSeconds - ALARM_MARGIN_SECONDS) * 1000 };
  const stopped = sister ? await stopJobPartHere(ctx.jobId, stopDeps) : await stopJobHere(ctx.jobId, stopDeps);
  if (stopped.kind === 'not-a-vm-job') return ctx.origRc;
  const where = sister ? ' on this node' : '';
  let rc = ctx.origRc;
  if (stopped.domains.length > 0) deps.say(`vTorque: ${stopped.domains.length} VM(s) of job ${ctx.jobId} torn down${where}`);
  if (stopped.error !== null) {
    deps.say(`vTorque: teardown of job ${ctx.jobId}${where} failed: ${stopped.error}`);
    rc = rc || 1;
  } else if (stopped.problems.length > 0) {
    deps.say(`vTorque: teardown of job ${ctx.jobId}${where} incomplete: ${stopped.problems.join('; ').slice(0, 600)}`);
    rc = rc || 1;
  }
  if (stopped.ownerUid !== null && c.KILL_USER_PROCESSES_AFTER_JOB && nodeWasExclusive(c, ctx.jobId)) {
    // Only here: on a node shared with other jobs this would kill them too (the original did it anyway).
    await run('pkill', ['-KILL', '-U', String(stopped.ownerUid)], { reject: false, timeoutMs: 10_000 });
  }
  return sister ? ctx.origRc : rc;
}

/** No other job on this node: mom_priv/jobs holds files of this job only. */
function nodeWasExclusive(c: SiteConfig, jobId: string): boolean {
  const jobs = momPaths(c.TORQUE_HOME).jobsDir;
  if (!lstatNoFollow(jobs, { trusted: true })) return false;
  return readdirSync(jobs).every((f) => f.startsWith(`${jobId}.`) || f.startsWith(`${jobId.split('.')[0]}.`));
}
