import { loadConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { appLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { createLogger } from '../../core/log/logger.js';
import { collectGarbage, formatReap } from '../../torque/hooks/index.js';

/**
 * `vtorque gc [--dry-run]`: reap the domains, files, tmpfs and ARP entries of jobs pbs_mom no
 * longer has (a node that crashed before an epilogue). The prologue runs the same before each
 * VM job. Exit 0 when everything found was reaped, 1 otherwise.
 */
export async function runGcCommand(a: { config?: string | undefined; dryRun: boolean }, fromUrl: string, out: (s: string) => void): Promise<number> {
  if (process.getuid?.() !== 0) throw new VtorqueError('PERMISSION', 'vtorque gc tears down VMs and removes root-owned files: run it as root', { exitCode: 1, fault: 'job' });
  const loaded = loadConfig({ path: a.config, env: process.env });
  const unsafe = selfCheck(appLayout(fromUrl), loaded.fromFile ? loaded.path : null);
  if (unsafe.length > 0) throw new VtorqueError('UNSAFE_PATH', `refusing to run: ${formatSelfCheck(unsafe).join('; ')}`, { fault: 'node' });
  const log = createLogger({ component: 'gc', level: loaded.config.LOG_LEVEL, logDir: loaded.config.LOG_DIR, human: null });
  const result = await collectGarbage(loaded.config, appLayout(fromUrl), log, { dryRun: a.dryRun });
  for (const line of formatReap(result, a.dryRun)) out(`${line}\n`);
  return result.jobs.some((j) => j.error !== null) ? 1 : 0;
}
