import yargs from 'yargs';
import { dirname } from 'node:path';
import { runSetup } from '../../admin/setup/index.js';
import { appLayout } from '../../core/install/paths.js';
import { runMain } from '../../core/run-main.js';
import { VtorqueError } from '../../core/errors.js';
import { runConfigCommand } from './config-command.js';

const out = (s: string): void => void process.stdout.write(s);

// Entry point of the admin/runtime CLI: a thin router, each command one function elsewhere.
await runMain('vtorque', async () => {
  let code = 0;
  await yargs(process.argv.slice(2))
    .scriptName('vtorque')
    .strict()
    .demandCommand(1, 'name a command')
    .command(
      'setup',
      'install (or --uninstall) vTorque and link its hooks into mom_priv',
      (y) =>
        y
          .option('prefix', { type: 'string', demandOption: true, describe: 'install prefix, e.g. /opt/vtorque' })
          .option('mom-priv', { type: 'string', describe: 'Torque mom_priv directory to link the hooks into' })
          .option('uninstall', { type: 'boolean', default: false })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print what would change, change nothing' })
          .option('config', { type: 'string', default: '/etc/vtorque/config.yaml', describe: 'site config to create if absent' })
          .option('profile-dir', { type: 'string', default: '/etc/profile.d' })
          .option('torque-home', { type: 'string', describe: 'Torque home (default: parent of --mom-priv, else /var/spool/torque)' }),
      async (a) => {
        const momPriv = a['mom-priv'] ?? null;
        code = await runSetup(
          {
            prefix: a.prefix,
            momPriv,
            uninstall: a.uninstall,
            dryRun: a['dry-run'],
            configPath: a.config,
            profileDir: a['profile-dir'],
            sourceRoot: appLayout(import.meta.url).root,
            nodePath: process.execPath,
            torqueHome: a['torque-home'] ?? (momPriv ? dirname(momPriv) : '/var/spool/torque'),
          },
          (line) => out(`${line}\n`),
        );
      },
    )
    .command(
      'config <action>',
      'check the site config (every problem at once), show the effective values, or print a documented example',
      (y) =>
        y
          .positional('action', { choices: ['check', 'show', 'example'] as const, demandOption: true })
          .option('config', { type: 'string', describe: 'config file (default $VTORQUE_CONFIG or /etc/vtorque/config.yaml)' })
          .option('node', { type: 'boolean', default: false, describe: 'also check the VM defaults fit this node' }),
      (a) => {
        code = runConfigCommand({ action: a.action, config: a.config, node: a.node }, out);
      },
    )
    .command('job-run', false, () => undefined, () => {
      throw new VtorqueError('NOT_SUPPORTED', 'this installation cannot run VM jobs yet: the job runner arrives with the Torque integration');
    })
    .fail((msg, err) => {
      if (err) throw err;
      throw new VtorqueError('USAGE', msg, { exitCode: 2 });
    })
    .parseAsync();
  return code;
});
