import type { SiteConfig } from '../core/config/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { nodeEngine, reapOrphans, type EngineLog, type ReapResult } from '../engine/index.js';
import { recordMetrics } from './metrics.js';
import { reapStatus } from './status.js';

/** `vtorque gc`: reap what the scheduler no longer has on this node (`isActive` says what it has). */
export async function collectGarbage(config: SiteConfig, layout: AppLayout, log: EngineLog, opts: { isActive: (jobIdOrDirName: string) => boolean; dryRun?: boolean }): Promise<ReapResult> {
  const engine = await nodeEngine(config, layout, log, () => undefined);
  let reaped: ReapResult;
  try {
    reaped = await reapOrphans(engine, { isActive: opts.isActive, ...(opts.dryRun ? { dryRun: true } : {}) });
  } finally {
    await engine.libvirt.close().catch(() => undefined);
  }
  if (!opts.dryRun) {
    try {
      reapStatus(config);
    } catch (err) {
      log.warn({ err: String(err) }, 'reaping old status records failed');
    }
    await recordMetrics(config, log, { kind: 'gc', reaped });
  }
  return reaped;
}

/** One line per reaped job and marker, for the admin. */
export function formatReap(r: ReapResult, dryRun: boolean): string[] {
  const verb = dryRun ? 'would reap' : 'reaped';
  const lines = r.jobs.map((j) =>
    j.error
      ? `job ${j.job}: reaping failed (${j.error}); the next gc tries again`
      : `job ${j.job}: ${verb} (${j.seen.join(', ')})${dryRun ? '' : `: ${j.domains.length} domain(s), ${j.files} file(s), ${j.arp.length} ARP entr${j.arp.length === 1 ? 'y' : 'ies'}`}`,
  );
  for (const m of r.markers) lines.push(`${verb} stale marker ${m}`);
  lines.push(r.jobs.length + r.markers.length === 0 ? 'nothing to reap' : `${r.jobs.filter((j) => !j.error).length} job(s) ${verb}, ${r.jobs.filter((j) => j.error).length} failed, ${r.markers.length} marker(s)`);
  return lines;
}
