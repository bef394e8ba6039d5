import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isInside } from '../../core/install/hook-links.js';
import { parseShowConfig, runShowConfig, slurmHookSettings } from '../../slurm/slurm-config.js';
import type { Argv } from 'yargs';
import { runSetup } from '../../admin/setup/index.js';
import { slurmHooks } from '../../slurm/install/index.js';
import { torqueHooks } from '../../torque/install/index.js';
import { DEFAULT_TORQUE_HOME } from '../../torque/torque-home.js';
import { appLayout } from '../../core/install/paths.js';
import { loadConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';

/** The `setup` options, shared by `vtorque setup` and the repository's `setup.ts`. */
export function setupOptions<T>(y: Argv<T>) {
  return y
    .option('prefix', { type: 'string', demandOption: true, describe: 'install prefix, e.g. /opt/vtorque' })
    .option('mom-priv', { type: 'string', describe: 'Torque mom_priv directory to link the hooks into' })
    .option('slurm', { type: 'boolean', default: false, describe: "install for Slurm: the Prolog/Epilog fronts and a slurm.conf include in the install (add its Include line to slurm.conf), vsbatch on PATH" })
    .option('uninstall', { type: 'boolean', default: false })
    .option('dry-run', { type: 'boolean', default: false, describe: 'print what would change, change nothing' })
    .option('config', { type: 'string', default: '/etc/vtorque/config.yaml', describe: 'site config to create if absent' })
    .option('profile-dir', { type: 'string', default: '/etc/profile.d' })
    .option('torque-home', { type: 'string', describe: 'Torque home (default: parent of --mom-priv, else /var/spool/torque)' });
}

type SetupArgs = Awaited<ReturnType<typeof setupOptions>['argv']>;

export async function runSetupCommand(a: SetupArgs, fromUrl: string): Promise<number> {
  const momPriv = a['mom-priv'] ?? null;
  if (a.slurm && momPriv !== null) throw new VtorqueError('USAGE', '--slurm and --mom-priv: one install serves one scheduler; expected --slurm or --mom-priv DIR', { fault: 'job', exitCode: 2 });
  const torqueHome = a['torque-home'] ?? (momPriv ? dirname(momPriv) : DEFAULT_TORQUE_HOME);
  const site = siteConfig(a.config);
  if (!a.slurm && !a.uninstall && site !== null && site.TORQUE_HOME.replace(/\/+$/, '') !== torqueHome.replace(/\/+$/, '')) {
    // The hooks would read another pbs_mom's jobs (gc!) and $prologalarm: refuse before changing anything.
    throw new VtorqueError(
      'USAGE',
      `${momPriv ? `--mom-priv ${momPriv} is in` : 'setup is for'} Torque home ${torqueHome}, but ${a.config} has TORQUE_HOME: ${site.TORQUE_HOME}; set TORQUE_HOME: ${torqueHome} there (or pass --torque-home ${site.TORQUE_HOME} if that is this node's pbs_mom home)`,
      { fault: 'job', exitCode: 2 },
    );
  }
  if (a.slurm && a.uninstall) await refuseWhileSlurmdUsesUs(a.prefix, site);
  return runSetup(
    {
      prefix: a.prefix,
      momPriv,
      uninstall: a.uninstall,
      dryRun: a['dry-run'],
      configPath: a.config,
      profileDir: a['profile-dir'],
      sourceRoot: appLayout(fromUrl).root,
      nodePath: process.execPath,
      torqueHome,
      spoolDir: site?.SPOOL_DIR ?? '/var/spool/vtorque',
      ...(site === null ? {} : { timeouts: { prologue: site.PROLOGUE_TIMEOUT, teardown: site.TEARDOWN_TIMEOUT } }),
    },
    (line) => void process.stdout.write(`${line}\n`),
    a.slurm ? slurmHooks : torqueHooks,
  );
}

/**
 * slurmd drains a node whose Prolog or Epilog path is missing, and a running controller hands
 * this install's paths to every slurmd: while it names a hook inside the prefix, uninstall stops
 * with what to do first. A controller that does not answer (stopped, not configured here) cannot
 * run our hooks on the next job either: uninstall goes on.
 */
async function refuseWhileSlurmdUsesUs(prefix: string, site: { SLURM_SCONTROL: string; SLURM_CONF: string } | null): Promise<void> {
  let text: string;
  try {
    text = await runShowConfig(site?.SLURM_SCONTROL ?? '/usr/bin/scontrol', site?.SLURM_CONF ?? '', 5000);
  } catch {
    return;
  }
  const s = slurmHookSettings(parseShowConfig(text));
  const inPrefix = (p: string | null): boolean => p !== null && isInside(resolve(prefix), resolve(p));
  const ours = [['Prolog', s.prolog], ['Epilog', s.epilog]].filter(([, p]) => inPrefix(p ?? null));
  if (ours.length === 0) return;
  throw new VtorqueError(
    'USAGE',
    `Slurm still runs this install's hooks (${ours.map(([k, p]) => `${k}=${p}`).join(', ')}): without them slurmd drains the node; take the Include line out of slurm.conf and run scontrol reconfigure first`,
    { fault: 'job', exitCode: 2 },
  );
}

/** The site config setup will leave in place, or null when there is none yet (or it does not load). */
function siteConfig(configPath: string): { SPOOL_DIR: string; TORQUE_HOME: string; PROLOGUE_TIMEOUT: number; TEARDOWN_TIMEOUT: number; SLURM_SCONTROL: string; SLURM_CONF: string } | null {
  if (!existsSync(configPath)) return null;
  try {
    return loadConfig({ path: configPath }).config;
  } catch {
    return null;
  }
}
