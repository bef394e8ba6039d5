import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../../core/config/index.js';
import { run } from '../../core/exec/run.js';
import { lstatNoFollow } from '../../core/fs/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import { jobDirPath, readJobRecord, recordMadeNoVms, stopJob, type EngineContext, type EngineLog, type JobRecordV1 } from '../../engine/index.js';
import { reason } from './classify.js';
import type { HookContext } from './context.js';
import { nodeEngine } from './engine-context.js';

export interface EpilogueDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly env: NodeJS.ProcessEnv;
  readonly log: EngineLog;
  readonly say: (line: string) => void;
}

/**
 * epilogue / epilogue.parallel for a VM job: end everything the job's start recorded on this node
 * (idempotent, also after a failed, killed or partial prologue) and kill the owner's leftover
 * processes only where the node was this job's alone. It reads nothing the job owner can write:
 * the decision and every value come from root's record (written by the prologue) and libvirt.
 * Its exit code is only logged by pbs_mom; the site's own epilogue verdict (.orig) is kept.
 */
export async function runEpilogue(ctx: HookContext, deps: EpilogueDeps): Promise<number> {
  const c = deps.config;
  let record: JobRecordV1 | null = null;
  let unreadable = false;
  try {
    record = readJobRecord(c, ctx.jobId);
  } catch (err) {
    // Root's own file, so only a crash mid-write could do this: tear down by job id.
    unreadable = true;
    deps.log.warn({ err: reason(err) }, 'the job record is unreadable; tearing down by job id');
  }
  const hasState = lstatNoFollow(jobDirPath(c, ctx.jobId), { trusted: true }) !== null;
  if (!record && !unreadable && !hasState) return ctx.origRc; // not a VM job on this node
  let engine: EngineContext | undefined;
  let rc = ctx.origRc;
  try {
    // A start that never planned a VM (refused, or undone) left only files: no libvirt needed.
    if (!recordMadeNoVms(record)) engine = await nodeEngine(c, deps.layout, deps.log, () => undefined);
    const stopped = await stopJob(engine ?? { config: c, log: deps.log }, ctx.jobId, record);
    if (stopped.domains.length > 0) deps.say(`vTorque: ${stopped.domains.length} VM(s) of job ${ctx.jobId} torn down`);
    if (stopped.problems.length > 0) {
      deps.log.warn({ problems: stopped.problems }, 'teardown incomplete; the next epilogue run or `vtorque gc` retries');
      deps.say(`vTorque: teardown of job ${ctx.jobId} incomplete: ${stopped.problems.join('; ').slice(0, 600)}`);
      rc = rc || 1;
    }
  } catch (err) {
    deps.log.warn({ err: reason(err) }, 'teardown failed; `vtorque gc` will retry');
    deps.say(`vTorque: teardown of job ${ctx.jobId} failed: ${reason(err)}`);
    rc = rc || 1;
  } finally {
    await engine?.libvirt.close().catch(() => undefined);
  }
  if (record && c.KILL_USER_PROCESSES_AFTER_JOB && nodeWasExclusive(c, ctx.jobId)) {
    // Only here: on a node shared with other jobs this would kill them too (the original did it anyway).
    await run('pkill', ['-KILL', '-U', String(record.owner.uid)], { reject: false, timeoutMs: 10_000 });
  }
  return rc;
}

/** No other job on this node: mom_priv/jobs holds files of this job only. */
function nodeWasExclusive(c: SiteConfig, jobId: string): boolean {
  const jobs = join(c.TORQUE_HOME, 'mom_priv', 'jobs');
  if (!lstatNoFollow(jobs, { trusted: true })) return false;
  return readdirSync(jobs).every((f) => f.startsWith(`${jobId}.`) || f.startsWith(`${jobId.split('.')[0]}.`));
}
