import { dirname } from 'node:path';
import type { Argv } from 'yargs';
import { runSetup } from '../../admin/setup/index.js';
import { appLayout } from '../../core/install/paths.js';
import { loadConfig } from '../../core/config/index.js';

/** The `setup` options, shared by `vtorque setup` and the repository's `setup.ts`. */
export function setupOptions<T>(y: Argv<T>) {
  return y
    .option('prefix', { type: 'string', demandOption: true, describe: 'install prefix, e.g. /opt/vtorque' })
    .option('mom-priv', { type: 'string', describe: 'Torque mom_priv directory to link the hooks into' })
    .option('uninstall', { type: 'boolean', default: false })
    .option('dry-run', { type: 'boolean', default: false, describe: 'print what would change, change nothing' })
    .option('config', { type: 'string', default: '/etc/vtorque/config.yaml', describe: 'site config to create if absent' })
    .option('profile-dir', { type: 'string', default: '/etc/profile.d' })
    .option('torque-home', { type: 'string', describe: 'Torque home (default: parent of --mom-priv, else /var/spool/torque)' });
}

type SetupArgs = Awaited<ReturnType<typeof setupOptions>['argv']>;

export function runSetupCommand(a: SetupArgs, fromUrl: string): Promise<number> {
  const momPriv = a['mom-priv'] ?? null;
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
      torqueHome: a['torque-home'] ?? (momPriv ? dirname(momPriv) : '/var/spool/torque'),
      spoolDir: siteSpoolDir(a.config),
    },
    (line) => void process.stdout.write(`${line}\n`),
  );
}

/** SPOOL_DIR of the site config setup will leave in place (the default when there is none yet). */
function siteSpoolDir(configPath: string): string {
  try {
    return loadConfig({ path: configPath }).config.SPOOL_DIR;
  } catch {
    return '/var/spool/vtorque';
  }
}
