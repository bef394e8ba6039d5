import type { Argv } from 'yargs';
import { appLayout } from '../../core/install/paths.js';
import { VtorqueError } from '../../core/errors.js';
import { asUserArgv, formatTestbedStatus, testbedDown, testbedExec, testbedStatus, testbedUp, type TestbedOptions } from '../../testbed/index.js';
import { withExamples } from './examples.js';

const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** `vtorque testbed up|down|status|exec`: a virtual cluster of N nodes on this host (doc/testbed.md). */
export function testbedCommand<T>(y: Argv<T>) {
  const options = y
    .positional('action', { choices: ['up', 'down', 'status', 'exec'] as const, demandOption: true })
    .positional('node', { type: 'string', describe: 'exec: the node (its name, or 1-N)' })
    .option('nodes', { type: 'number', describe: 'up: node count, 1-8 (default 2); the first is the head' })
    .option('name', { type: 'string', describe: 'prefix of the namespaces and node names (default vtqtb)' })
    .option('state-dir', { type: 'string', describe: 'state directory (default /var/lib/vtorque/testbed/<name>)' })
    .option('torque-prefix', { type: 'string', describe: 'installed Torque (default /opt/torque-ref)' })
    .option('image-dir', { type: 'string', describe: 'up: guest image directory, built when missing (default /var/cache/vtorque/image)' })
    .option('user', { type: 'string', describe: 'exec: run as this user (his uid, gid, groups; a login-like environment)' })
    .option('scheduler', { choices: ['torque', 'slurm'] as const, describe: 'up: the scheduler the nodes run (default torque; slurm: slurmctld on the head, slurmd on every node)' });
  return withExamples(options, [
    ['vtorque testbed up --nodes 3', 'three Torque nodes (as root); the head, vtqtb-n1, runs pbs_server'],
    ['vtorque testbed exec 1 --user alice -- vsub -l nodes=2 -vm vcpus=1 job.sh', 'submit a 2-node VM job on the head as alice'],
    ['vtorque testbed up --nodes 2 --scheduler slurm', 'two Slurm nodes: slurmctld on vtqtb-n1; submit there with vsbatch'],
    ['vtorque testbed down', 'end everything by PID, delete the namespaces and the state'],
  ]);
}

type TestbedArgs = {
  action: 'up' | 'down' | 'status' | 'exec';
  node?: string | undefined;
  nodes?: number | undefined;
  name?: string | undefined;
  'state-dir'?: string | undefined;
  'torque-prefix'?: string | undefined;
  'image-dir'?: string | undefined;
  user?: string | undefined;
  scheduler?: 'torque' | 'slurm' | undefined;
  '--'?: (string | number)[] | undefined;
};

export async function runTestbedCommand(a: TestbedArgs, fromUrl: string): Promise<number> {
  const opts: TestbedOptions = {
    ...(a.name ? { name: a.name } : {}),
    ...(a.nodes !== undefined ? { nodes: a.nodes } : {}),
    ...(a['state-dir'] ? { stateDir: a['state-dir'] } : {}),
    ...(a['torque-prefix'] ? { torquePrefix: a['torque-prefix'] } : {}),
    ...(a['image-dir'] ? { imageDir: a['image-dir'] } : {}),
    ...(a.scheduler ? { scheduler: a.scheduler } : {}),
    sourceRoot: appLayout(fromUrl).root,
    log: say,
  };
  if (a.action === 'exec') {
    const argv = (a['--'] ?? []).map(String);
    if (a.node === undefined || argv.length === 0) throw new VtorqueError('USAGE', 'testbed exec: expected vtorque testbed exec NODE [--user U] -- COMMAND [ARGS…]', { exitCode: 2, fault: 'job' });
    return testbedExec(opts, a.node, a.user ? await asUserArgv(opts, a.user, argv) : argv);
  }
  const status = a.action === 'up' ? await testbedUp(opts) : a.action === 'down' ? await testbedDown(opts) : await testbedStatus(opts);
  for (const line of formatTestbedStatus(status)) process.stdout.write(`${line}\n`);
  return a.action === 'up' && !status.ready ? 1 : 0;
}
