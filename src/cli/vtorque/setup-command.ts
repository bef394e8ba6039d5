import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
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

export function runSetupCommand(a: SetupArgs, fromUrl: string): Promise<number> {
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

/** The site config setup will leave in place, or null when there is none yet (or it does not load). */
function siteConfig(configPath: string): { SPOOL_DIR: string; TORQUE_HOME: string; PROLOGUE_TIMEOUT: number; TEARDOWN_TIMEOUT: number } | null {
  if (!existsSync(configPath)) return null;
  try {
    return loadConfig({ path: configPath }).config;
  } catch {
    return null;
  }
}
