import yargs from 'yargs';
import { runMain } from '../../core/run-main.js';
import { VtorqueError } from '../../core/errors.js';
import { runConfigCommand } from './config-command.js';
import { runSetupCommand, setupOptions } from './setup-command.js';
import { imageCommand, runImageCommand, runSandboxCommand, sandboxCommand } from './lab-commands.js';
import { runLocalCommand, runLocalOptions } from './run-local-command.js';
import { runDoctor } from './doctor-command.js';
import { runGcCommand } from './gc-command.js';
import { runNodeAgent } from './node-agent-command.js';
import { runTestbedCommand, testbedCommand } from './testbed-command.js';
import { jobRunArgs, runJobFromProcess } from '../../runner/index.js';
import { withExamples } from './examples.js';
import { runStatusCommand } from './status-command.js';

const out = (s: string): void => void process.stdout.write(s);

// Entry point of the admin/runtime CLI: a thin router, each command one function elsewhere.
// `job-run`: the body of job wrappers written before the runner had its own bundle
// (dist/job-run.mjs), for jobs still queued across an upgrade; its arguments are the job's own.
if (process.argv[2] === 'job-run') await runMain('vtorque', () => runJobFromProcess(jobRunArgs(process.argv)));

await runMain('vtorque', async () => {
  let code = 0;
  await withExamples(yargs(process.argv.slice(2)).scriptName('vtorque'), [
    ['vtorque setup --prefix /opt/vtorque --mom-priv /var/spool/torque/mom_priv', 'install on a Torque node (as root); vtorque setup --help: Slurm, uninstall'],
    ['vtorque config check --node', 'check the site config, and that its VM defaults fit this node'],
    ['vtorque doctor', 'check this node can run VM jobs, each problem with its fix'],
    ['vtorque run-local --user alice -- -vm vcpus=1 job.sh', "run alice's VM job here through the installed hooks, as pbs_mom would"],
  ])
    .parserConfiguration({ 'populate--': true })
    .strict()
    .demandCommand(1, 'name a command')
    .command('setup', 'install (or --uninstall) vTorque and link its hooks into mom_priv', (y) => withExamples(setupOptions(y), [
      ['vtorque setup --prefix /opt/vtorque --mom-priv /var/spool/torque/mom_priv', "install on a Torque node (as root): hooks linked into pbs_mom's mom_priv"],
      ['vtorque setup --slurm --prefix /opt/vtorque', 'install for Slurm; then Include its slurm.conf part (doc/slurm.md)'],
      ['vtorque setup --uninstall --dry-run --prefix /opt/vtorque', 'what an uninstall would change; drop --dry-run to do it'],
      ['vtorque setup --uninstall --slurm --prefix /opt/vtorque', 'uninstall for Slurm: take the Include line out of slurm.conf first'],
    ]), async (a) => {
      code = await runSetupCommand(a, import.meta.url);
    })
    .command(
      'config <action>',
      'check the site config (every problem at once), show the effective values, or print a documented example',
      (y) =>
        withExamples(
          y
            .positional('action', { choices: ['check', 'show', 'example'] as const, demandOption: true })
            .option('config', { type: 'string', describe: 'config file (default $VTORQUE_CONFIG or /etc/vtorque/config.yaml)' })
            .option('node', { type: 'boolean', default: false, describe: 'also check the VM defaults fit this node' }),
          [
            ['vtorque config check', 'every problem of /etc/vtorque/config.yaml ($VTORQUE_CONFIG) at once'],
            ['vtorque config check --node --config ./config.yaml', "a new config, and whether its VM defaults fit this node's cores and RAM"],
            ['vtorque config show', "the effective value of every key: the file's, else the built-in default"],
            ['vtorque config example > config.yaml', 'every key commented with its default and accepted form: a config to edit'],
          ],
        ),
      (a) => {
        code = runConfigCommand({ action: a.action, config: a.config, node: a.node }, out);
      },
    )
    .command(
      'status <job>',
      "a VM job's starts on this node (its head) with the phase timeline per VM, and how it ended; for the job's owner and root, 3 days after the job",
      (y) =>
        withExamples(
          y.positional('job', { type: 'string', demandOption: true, describe: 'the job id as qstat or squeue shows it' }).option('json', { type: 'boolean', default: false, describe: 'the record as JSON' }).option('config', { type: 'string' }),
          [
            ['vtorque status 42', "job 42's starts, one bar per VM: plan, boot, address, SSH"],
            ['vtorque status 12.headnode --json', 'the same as JSON (phases in ms from the start)'],
          ],
        ),
      (a) => {
        code = runStatusCommand({ job: String(a.job), json: a.json, config: a.config }, out);
      },
    )
    .command('run-local', "run one job's whole lifecycle on this machine as pbs_mom would: vtorque run-local [options] -- <vsub arguments>", runLocalOptions, async (a) => {
      code = await runLocalCommand(a, import.meta.url);
    })
    .command(
      'doctor',
      "check this node can run VM jobs: config, own files root-only, tools, libvirt (and, with --nodes, the node agents of other nodes; with --slurm, slurmd's Prolog/Epilog settings)",
      (y) =>
        withExamples(
          y
            .option('config', { type: 'string' })
            .option('nodes', { type: 'string', describe: 'other nodes to reach through NODE_AGENT_COMMAND as the head of a multi-node job would, e.g. n2,n3' })
            .option('slurm', { type: 'boolean', default: false, describe: "check that slurmd runs vTorque's Slurm hooks as they need (scontrol show config: SlurmdUser, PrologFlags, Prolog, Epilog, PrologEpilogTimeout)" }),
          [
            ['vtorque doctor', 'check this node, each problem with its fix; exit 1 when anything is wrong'],
            ['vtorque doctor --nodes n2,n3', "also start n2's and n3's node agents as a multi-node job's head would"],
            ['vtorque doctor --slurm', "also check slurmd's settings for the hooks (scontrol show config)"],
          ],
        ),
      async (a) => {
        code = await runDoctor(a.config, import.meta.url, out, a.nodes, a.slurm);
      },
    )
    .command(
      'gc',
      'reap the VMs, files, tmpfs and ARP entries of jobs pbs_mom no longer has (after a node crash); every VM prologue runs it too',
      (y) =>
        withExamples(y.option('config', { type: 'string' }).option('dry-run', { type: 'boolean', default: false, describe: 'list what would be reaped, change nothing' }), [
          ['vtorque gc --dry-run', 'list the VMs, files, tmpfs and ARP entries of gone jobs; change nothing'],
          ['vtorque gc', 'reap them (as root, e.g. after a node crash); exit 1 if a reap failed'],
        ]),
      async (a) => {
        code = await runGcCommand({ config: a.config, dryRun: a.dryRun }, import.meta.url, out);
      },
    )
    .command(
      'node-agent',
      false, // run by the head of a multi-node job over ssh, not by people
      (y) =>
        withExamples(
          // One usage() per line: yargs would lay out a text with newlines in columns of its own.
          [
            '$0 node-agent [--name NODE] [--config FILE]',
            '',
            'internal, not for people: the head of a multi-node job starts it on this node',
            'as root over ssh (NODE_AGENT_COMMAND) and asks it for node operations on its',
            'stdin/stdout; `vtorque doctor --nodes` checks that channel',
          ]
            .reduce((u, line) => u.usage(line), y)
            .option('config', { type: 'string' })
            .option('name', { type: 'string', describe: "this node's name as the scheduler knows it (default: the short host name)" }),
          [
            ['ssh -T root@n2 /opt/vtorque/bin/vtorque node-agent --name n2', "internal: in effect what a multi-node job's head runs on node n2"],
            ['vtorque doctor --nodes n2,n3', 'what an admin runs instead: checks the agents of n2 and n3 from this head'],
          ],
        ),
      async (a) => {
        code = await runNodeAgent({ config: a.config, name: a.name }, import.meta.url);
      },
    )
    .command('sandbox <action>', 'libvirtd and an isolated network inside a network namespace, for trying vTorque on one machine', sandboxCommand, async (a) => {
      code = await runSandboxCommand(a);
    })
    .command('testbed <action> [node]', 'a virtual cluster on this host: N nodes in namespaces, each with libvirtd, sshd and a real pbs_mom', testbedCommand, async (a) => {
      code = await runTestbedCommand(a, import.meta.url);
    })
    .command('image <action>', 'build the Debian bookworm guest image (cached: rebuilt only when its inputs change)', imageCommand, async (a) => {
      code = await runImageCommand(a);
    })
    .fail((msg, err) => {
      if (err) throw err;
      throw new VtorqueError('USAGE', msg, { exitCode: 2, fault: 'job' });
    })
    .parseAsync();
  return code;
});
