import type { SiteConfig } from '../../core/config/index.js';
import { reason, type EngineLog } from '../../lifecycle/index.js';
import { DEFAULT_CRED_EXPIRE, parseShowConfig, slurmHookSettings } from '../slurm-config.js';
import { EPILOG_MARGIN_SECONDS, PROLOG_MARGIN_SECONDS } from './exit-codes.js';
import type { SlurmClient } from './slurm-client.js';

/** What slurmd's settings leave the hooks (one `scontrol show config` per hook run). */
export interface HookLimits {
  /** Seconds the start may take: PROLOGUE_TIMEOUT, and never past PrologEpilogTimeout (slurmd would drain the node). */
  readonly startSeconds: number;
  /** Seconds the stop may take: TEARDOWN_TIMEOUT, ending before PrologEpilogTimeout. */
  readonly stopSeconds: number;
  /** AuthInfo cred_expire: within it after a job's Epilog, slurmd runs no Prolog for the same job id again. */
  readonly credExpireSeconds: number;
}

export async function hookLimits(c: Pick<SiteConfig, 'PROLOGUE_TIMEOUT' | 'TEARDOWN_TIMEOUT'>, slurm: Pick<SlurmClient, 'showConfig'>, log: EngineLog): Promise<HookLimits> {
  try {
    const s = slurmHookSettings(parseShowConfig(await slurm.showConfig()));
    const limit = s.prologEpilogTimeoutSeconds;
    return {
      startSeconds: limit === null ? c.PROLOGUE_TIMEOUT : Math.max(10, Math.min(c.PROLOGUE_TIMEOUT, limit - PROLOG_MARGIN_SECONDS)),
      stopSeconds: limit === null ? c.TEARDOWN_TIMEOUT : Math.max(1, Math.min(c.TEARDOWN_TIMEOUT, limit - EPILOG_MARGIN_SECONDS)),
      credExpireSeconds: s.credExpireSeconds,
    };
  } catch (err) {
    log.warn({ err: reason(err) }, "cannot read slurmd's PrologEpilogTimeout and cred_expire; the hooks keep to PROLOGUE_TIMEOUT and TEARDOWN_TIMEOUT");
    return { startSeconds: c.PROLOGUE_TIMEOUT, stopSeconds: c.TEARDOWN_TIMEOUT, credExpireSeconds: DEFAULT_CRED_EXPIRE };
  }
}
