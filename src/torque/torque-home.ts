import { join } from 'node:path';

/** pbs_mom's home when a site says nothing else (Torque's build default). */
export const DEFAULT_TORQUE_HOME = '/var/spool/torque';

/**
 * pbs_mom's files under its home, as Torque 6.1 lays them out: the one place the adapter derives
 * them (torque-hook-contract.md: `mom_priv/jobs/<id>.SC` is root's copy of the job script,
 * `mom_priv/config` holds `$prologalarm`, `aux/<id>` the node file).
 */
export function momPaths(torqueHome: string): { readonly momPriv: string; readonly jobsDir: string; readonly config: string; readonly auxDir: string; readonly spoolDir: string } {
  const home = torqueHome.replace(/\/+$/, '') || '/';
  const momPriv = join(home, 'mom_priv');
  return { momPriv, jobsDir: join(momPriv, 'jobs'), config: join(momPriv, 'config'), auxDir: join(home, 'aux'), spoolDir: join(home, 'spool') };
}
