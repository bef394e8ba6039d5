// The product card's installer entry: `npx tsx setup.ts --prefix /opt/vtorque [--mom-priv DIR]
// [--uninstall] [--dry-run]`, the same command as `vtorque setup` (it installs the built dist/).
import yargs from 'yargs';
import { runSetupCommand, setupOptions } from './src/cli/vtorque/setup-command.js';
import { runMain } from './src/core/run-main.js';

await runMain('setup', async () => runSetupCommand(await setupOptions(yargs(process.argv.slice(2)).scriptName('setup').strict()).parseAsync(), import.meta.url));
