import type { SiteConfig } from '../../core/config/index.js';
import type { AppLayout } from '../../core/install/paths.js';
import { collectGarbage as reap, type EngineLog, type ReapResult } from '../../lifecycle/index.js';
import { torqueActiveJobs } from './active-jobs.js';

/** `vtorque gc` on a Torque node: reap what jobs pbs_mom no longer has left here (mom_priv/jobs says which it has). */
export function collectGarbage(config: SiteConfig, layout: AppLayout, log: EngineLog, opts: { dryRun?: boolean } = {}): Promise<ReapResult> {
  return reap(config, layout, log, { isActive: torqueActiveJobs(config.TORQUE_HOME), ...opts });
}

export { formatReap } from '../../lifecycle/index.js';
