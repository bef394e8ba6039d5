import { join } from 'node:path';
import type { Argv } from 'yargs';
import { loadConfig } from '../../core/config/index.js';
import { appLayout } from '../../core/install/paths.js';
import { formatLiveEvent, runLocal, runLocalExitCode } from '../../torque/run-local/index.js';
import { withExamples } from './examples.js';

/** `vtorque run-local [options] -- <vsub arguments>`: one job's whole lifecycle, exactly as pbs_mom runs it. */
export function runLocalOptions<T>(y: Argv<T>) {
  const options = y
    .option('prologalarm', { type: 'number', describe: "override the mom's $prologalarm (s)" })
    .option('user', { type: 'string', describe: 'job owner (default: SUDO_USER; never root)' })
    .option('netns', { type: 'string', describe: 'run hooks and job inside this network namespace (e.g. the sandbox)' })
    .option('max-starts', { type: 'number', default: 5, describe: 'starts before a requeueing prologue is given up (Torque would loop on)' })
    .option('cancel-after', { type: 'number', describe: 'qdel the job this many seconds after its first start' })
    .option('walltime', { type: 'number', describe: 'walltime limit in seconds (overrides -l walltime)' })
    .option('keep', { type: 'boolean', default: false, describe: 'keep the .SC, node file and spool files' })
    .option('live', { type: 'boolean', default: true, describe: "print each step and the job's spool lines on stderr as they are written (--no-live: only the end)" })
    .option('config', { type: 'string', describe: 'site config (default $VTORQUE_CONFIG or /etc/vtorque/config.yaml)' });
  return withExamples(options, [
    ['vtorque run-local --user alice -- -vm vcpus=2,ram=4G job.sh', "run alice's VM job (as root) through the hooks in TORQUE_HOME/mom_priv"],
    ['vtorque run-local --user alice --netns vtq -- -vm vcpus=1 job.sh', 'the hooks and the job inside the sandbox (vtorque sandbox up)'],
    ['vtorque run-local --user alice --cancel-after 30 -- -vm vcpus=1 job.sh', 'qdel the job 30 s after it starts: the epilogue.precancel path'],
    ['vtorque run-local --user alice --keep --no-live -- -vm vcpus=1 job.sh', 'print only the end (.o, .e, verdict); keep the .SC, node and spool files'],
  ]);
}

type Args = Awaited<ReturnType<typeof runLocalOptions>['argv']> & { _: (string | number)[]; '--'?: (string | number)[] };

export async function runLocalCommand(a: Args, fromUrl: string): Promise<number> {
  const { config } = loadConfig({ path: a.config, env: process.env });
  const vsubArgs = (a['--'] ?? a._.slice(1)).map(String);
  const result = await runLocal({
    config,
    vsubCommand: [process.execPath, join(appLayout(fromUrl).dist, 'vsub.mjs')],
    vsubArgs,
    ...(a.user ? { user: a.user } : {}),
    ...(a.prologalarm !== undefined ? { prologalarm: a.prologalarm } : {}),
    ...(a.netns ? { netns: a.netns } : {}),
    maxStarts: a['max-starts'],
    ...(a['cancel-after'] !== undefined ? { cancelAfter: a['cancel-after'] } : {}),
    ...(a.walltime !== undefined ? { walltime: a.walltime } : {}),
    keep: a.keep,
    // Progress on stderr, so stdout stays what it was: the delivered output and the verdict.
    live: a.live ? (event) => void process.stderr.write(formatLiveEvent(event)) : null,
  });
  return runLocalExitCode(result);
}
