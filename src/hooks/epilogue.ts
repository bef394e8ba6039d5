import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../core/config/schema.js';
import { decodeJobScript } from '../core/contract/job-script.v1.js';
import { run } from '../core/exec/run.js';
import { lstatNoFollow, readFileNoFollow, unlinkNoFollow } from '../core/fs/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { jobDirPath, stopComponents, stopJobVms, type EngineContext, type EngineLog } from '../engine/index.js';
import { reason } from './classify.js';
import type { HookContext } from './context.js';
import { nodeEngine } from './engine-context.js';
import { readAllocation } from './nodes.js';
import { resolveOwner } from './owner.js';

export interface EpilogueDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly env: NodeJS.ProcessEnv;
  readonly log: EngineLog;
  readonly say: (line: string) => void;
}

/**
 * epilogue / epilogue.parallel for a VM job: tear down every VM of the job on this node (idempotent,
 * also after a failed or partial prologue), stop the node components, remove the job's files, and
 * kill the owner's leftover processes only where the node was this job's alone. Its exit code is
 * only logged by pbs_mom; the site's own epilogue verdict (.orig) is kept.
 */
export async function runEpilogue(ctx: HookContext, deps: EpilogueDeps): Promise<number> {
  const c = deps.config;
  // The .SC is the owner's by now (Torque chowns it at job start): it may have been rewritten, so a
  // VM job is also one whose root-owned state dir exists, and an unreadable request stops nothing less.
  let decoded: ReturnType<typeof decodeJobScript> = null;
  try {
    decoded = decodeJobScript(readFileNoFollow(ctx.scriptPath, 64 << 20), ctx.scriptPath);
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'the job script no longer holds a valid request; tearing down by job id');
  }
  const hasState = lstatNoFollow(jobDirPath(c, ctx.jobId), { trusted: true }) !== null;
  if (!decoded && !hasState) return ctx.origRc;
  const request = decoded?.request ?? { debug: false, vrdma: true, iocm: true, iocm_min_cores: c.IOCM_MIN_CORES_DEFAULT, iocm_max_cores: c.IOCM_MAX_CORES_DEFAULT };
  let engine: EngineContext | undefined;
  let rc = ctx.origRc;
  try {
    engine = await nodeEngine(c, deps.layout, deps.log, () => undefined);
    const stopped = await stopJobVms(ctx.jobId, engine, { keepLogs: request.debug });
    if (stopped.domains.length > 0) deps.say(`vTorque: ${stopped.domains.length} VM(s) of job ${ctx.jobId} torn down`);
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'teardown failed; `vtorque gc` will retry');
    deps.say(`vTorque: teardown of job ${ctx.jobId} failed: ${reason(err)}`);
    rc = rc || 1;
  } finally {
    await engine?.libvirt.close().catch(() => undefined);
  }
  const owner = await resolveOwner(ctx.user, ctx.group).catch(() => null);
  const node = readAllocation(deps.env.PBS_NODEFILE)?.localName ?? '';
  const problems = await stopComponents(c, { jobId: ctx.jobId, user: ctx.user, node, request }, deps.log);
  if (problems.length > 0) rc = rc || 1;
  // The cancel dir exists only where a Node prologue ran (never on a sister, nor on a node whose
  // prologue was refused, killed or stopped by the site's .orig): no dir, no marker to remove.
  const cancelDir = join(c.SPOOL_DIR, 'cancel');
  if (lstatNoFollow(cancelDir, { trusted: true })) unlinkNoFollow(join(cancelDir, ctx.jobId));
  if (owner && c.KILL_USER_PROCESSES_AFTER_JOB && nodeWasExclusive(c, ctx.jobId)) {
    // Only here: on a node shared with other jobs this would kill them too (the original did it anyway).
    await run('pkill', ['-KILL', '-U', String(owner.uid)], { reject: false, timeoutMs: 10_000 });
  }
  return rc;
}

/** No other job on this node: mom_priv/jobs holds files of this job only. */
function nodeWasExclusive(c: SiteConfig, jobId: string): boolean {
  const jobs = join(c.TORQUE_HOME, 'mom_priv', 'jobs');
  if (!lstatNoFollow(jobs, { trusted: true })) return false;
  return readdirSync(jobs).every((f) => f.startsWith(`${jobId}.`) || f.startsWith(`${jobId.split('.')[0]}.`));
}
