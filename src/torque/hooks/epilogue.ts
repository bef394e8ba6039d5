import { readdirSync } from 'node:fs';
import type { SiteConfig } from '../../core/config/index.js';
import { run } from '../../core/exec/run.js';
import { lstatNoFollow } from '../../core/fs/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import { stopJobHere, type EngineLog } from '../../lifecycle/index.js';
import type { HookContext } from './context.js';
import { momPaths } from '../torque-home.js';

export interface EpilogueDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly env: NodeJS.ProcessEnv;
  readonly log: EngineLog;
  readonly say: (line: string) => void;
}

/**
 * epilogue / epilogue.parallel for a VM job: the lifecycle's stop on this node (from root's
 * record and libvirt only), then Torque's part: kill the owner's leftover processes only where
 * the node was this job's alone (mom_priv/jobs says so). Its exit code is only logged by pbs_mom;
 * the site's own epilogue verdict (.orig) is kept.
 */
export async function runEpilogue(ctx: HookContext, deps: EpilogueDeps): Promise<number> {
  const c = deps.config;
  const stopped = await stopJobHere(ctx.jobId, deps);
  if (stopped.kind === 'not-a-vm-job') return ctx.origRc;
  let rc = ctx.origRc;
  if (stopped.domains.length > 0) deps.say(`vTorque: ${stopped.domains.length} VM(s) of job ${ctx.jobId} torn down`);
  if (stopped.error !== null) {
    deps.say(`vTorque: teardown of job ${ctx.jobId} failed: ${stopped.error}`);
    rc = rc || 1;
  } else if (stopped.problems.length > 0) {
    deps.say(`vTorque: teardown of job ${ctx.jobId} incomplete: ${stopped.problems.join('; ').slice(0, 600)}`);
    rc = rc || 1;
  }
  if (stopped.ownerUid !== null && c.KILL_USER_PROCESSES_AFTER_JOB && nodeWasExclusive(c, ctx.jobId)) {
    // Only here: on a node shared with other jobs this would kill them too (the original did it anyway).
    await run('pkill', ['-KILL', '-U', String(stopped.ownerUid)], { reject: false, timeoutMs: 10_000 });
  }
  return rc;
}

/** No other job on this node: mom_priv/jobs holds files of this job only. */
function nodeWasExclusive(c: SiteConfig, jobId: string): boolean {
  const jobs = momPaths(c.TORQUE_HOME).jobsDir;
  if (!lstatNoFollow(jobs, { trusted: true })) return false;
  return readdirSync(jobs).every((f) => f.startsWith(`${jobId}.`) || f.startsWith(`${jobId.split('.')[0]}.`));
}
