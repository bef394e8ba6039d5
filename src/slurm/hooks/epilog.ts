import type { SiteConfig } from '../../core/config/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import { startRecordedHere, stopJobHere, stopJobPartHere, type EngineLog } from '../../lifecycle/index.js';
import type { SlurmHookContext } from './context.js';
import { SLURM_HOOK_EXIT } from './exit-codes.js';
import { hookLimits } from './limits.js';
import type { SlurmClient } from './slurm-client.js';

export interface EpilogDeps {
  readonly config: SiteConfig;
  readonly layout: AppLayout;
  readonly log: EngineLog;
  /** slurmd logs an Epilog's output only when it fails: what is left goes there, for the admin. */
  readonly say: (line: string) => void;
  readonly slurm: SlurmClient;
  /** The site config this hook read, for the node agent a node of the job tears its part down through. */
  readonly configPath: string;
}

/**
 * slurmd's Epilog on every node of a job whose start left something here (the front checked root's
 * record or the job's state dir): the lifecycle's stop from root's own record and libvirt, never
 * from anything the owner can write. The node that recorded the start (the batch host) tears down
 * the whole job, its other nodes at the same time; every other node its own part. It runs after the
 * Prolog has ended (scancel during boot included). Exit 0 once nothing is left; non-zero drains the
 * node ("Epilog error"), which is what should happen to a node that still holds a job's VMs.
 */
export async function runSlurmEpilog(ctx: SlurmHookContext, deps: EpilogDeps): Promise<number> {
  const c = deps.config;
  const seconds = (await hookLimits(c, deps.slurm, deps.log)).stopSeconds;
  const stopDeps = { config: c, layout: deps.layout, log: deps.log, configPath: deps.configPath, deadlineAt: Date.now() + seconds * 1000 };
  const head = startRecordedHere(c, ctx.jobId);
  const stopped = head ? await stopJobHere(ctx.jobId, stopDeps) : await stopJobPartHere(ctx.jobId, stopDeps);
  if (stopped.kind === 'not-a-vm-job') return SLURM_HOOK_EXIT.ok;
  const where = head ? '' : ` on ${ctx.node}`;
  if (stopped.domains.length > 0) deps.say(`${stopped.domains.length} VM(s) of job ${ctx.jobId} torn down${where}`);
  if (stopped.error !== null) {
    deps.say(`teardown of job ${ctx.jobId}${where} failed: ${stopped.error}`);
    return SLURM_HOOK_EXIT.drain;
  }
  if (stopped.problems.length > 0) {
    deps.say(`teardown of job ${ctx.jobId}${where} incomplete: ${stopped.problems.join('; ').slice(0, 600)}`);
    return SLURM_HOOK_EXIT.drain;
  }
  return SLURM_HOOK_EXIT.ok;
}
