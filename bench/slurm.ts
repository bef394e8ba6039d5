import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSetup } from '../src/admin/setup/index.js';
import { slurmHooks } from '../src/slurm/install/index.js';
import { makeSite, REPO } from '../test/helpers/site.js';
import { realSlurm } from '../test/slurm/real-slurm.js';
import { emit, median, timeRun } from './stats.js';

/**
 * S1_slurm_passthrough_added_ms: what vTorque's installed Slurm Prolog + Epilog add to a plain
 * (non-VM) job against empty `sh` hooks, each run as slurmd runs them (no argv, slurmd's
 * environment only: slurm-hook-env-matrix.md), in alternating pairs in one run. Every job on a
 * Slurm cluster with vTorque pays this.
 *
 * S2_vsbatch_added_ms: what vsbatch adds to submitting a VM job, over bare sbatch submitting the
 * same script: both against a real slurmctld (a cluster of one node in a network namespace of
 * the bench's own, jobs held so none runs), alternating, one run. Root only.
 */
export async function benchSlurm(pairs = 40): Promise<void> {
  await benchPassthrough(pairs);
  await benchVsbatch(Math.max(10, Math.floor(pairs / 2)));
}

async function benchPassthrough(pairs: number): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'vtq-bench-slurm-'));
  const prefix = join(root, 'prefix');
  await runSetup(
    { prefix, momPriv: null, uninstall: false, dryRun: false, configPath: join(root, 'config.yaml'), profileDir: join(root, 'profile.d'), sourceRoot: REPO, nodePath: process.execPath, torqueHome: join(root, 'torque'), spoolDir: join(root, 'spool') },
    () => undefined,
    slurmHooks,
  );
  const hooks = join(prefix, 'lib', 'vtorque', 'hooks');
  for (const hook of ['prolog', 'epilog']) {
    writeFileSync(join(root, `empty-${hook}`), '#!/bin/sh\nexit 0\n');
    chmodSync(join(root, `empty-${hook}`), 0o500);
  }
  const job = { SLURM_JOB_ID: '4242', SLURM_JOBID: '4242', SLURM_JOB_UID: '1001', SLURM_UID: '1001', SLURM_JOB_GID: '1001', SLURM_JOB_USER: 'alice', SLURMD_NODENAME: 'n1', SLURM_NODELIST: 'n1', SLURM_JOB_PARTITION: 'batch', SLURM_JOB_NUM_NODES: '1', SLURM_JOB_CPUS_PER_NODE: '1', SLURM_CLUSTER_NAME: 'bench', SLURM_CONF: '/etc/slurm/slurm.conf', SLURM_JOB_RESTART_COUNT: '0', SLURM_JOB_WORK_DIR: '/home/alice', SLURM_JOB_STDIN: '/dev/null', SLURM_JOB_STDOUT: '/home/alice/slurm-%j.out' };
  const pro = { ...job, SLURM_SCRIPT_CONTEXT: 'prolog_slurmd' };
  const epi = { ...job, SLURM_SCRIPT_CONTEXT: 'epilog_slurmd', SLURM_JOB_EXIT_CODE: '0', SLURM_JOB_EXIT_CODE2: '0:0', SLURM_JOB_DERIVED_EC: '0' };
  const pair = (prolog: string, epilog: string): number => timeRun(prolog, [], { env: pro, cwd: root }) + timeRun(epilog, [], { env: epi, cwd: root });
  const ours = (): number => pair(join(hooks, 'slurm-prolog'), join(hooks, 'slurm-epilog'));
  const empty = (): number => pair(join(root, 'empty-prolog'), join(root, 'empty-epilog'));
  for (let i = 0; i < 5; i++) ours();
  const base: number[] = [];
  const vt: number[] = [];
  for (let i = 0; i < pairs; i++) {
    base.push(empty());
    vt.push(ours());
  }
  emit('S1_slurm_passthrough_added_ms', median(vt) - median(base), 'ms', { target: 5, pairs, vtorque_pair_ms: median(vt), empty_sh_pair_ms: median(base) });
  rmSync(root, { recursive: true, force: true });
}

async function benchVsbatch(pairs: number): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('S2 needs root: it runs a Slurm cluster in a network namespace of its own');
  const ns = 'vtqslbench';
  const sh = (argv: string[]): void => void spawnSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
  sh(['ip', 'netns', 'del', ns]);
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  sh(['ip', '-n', ns, 'link', 'add', 'vtqslb-a', 'type', 'veth', 'peer', 'name', 'vtqslb-b']);
  sh(['ip', '-n', ns, 'addr', 'add', '10.213.53.1/24', 'dev', 'vtqslb-a']);
  for (const dev of ['vtqslb-a', 'vtqslb-b']) sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  const stateDir = mkdtempSync(join('/var/tmp', 'vtq-bench-slurm-'));
  chmodSync(stateDir, 0o755);
  const slurm = realSlurm({ ns, addr: '10.213.53.1', stateDir, clusterName: 'bench', nodeName: 'bn1', ctldPort: 16957, slurmdPort: 16958, cpus: 2, realMemoryMiB: 4000, hooksInclude: '', log: () => undefined });
  const site = makeSite();
  try {
    await slurm.up();
    site.writeConfig({ SLURM_SBATCH: '/usr/bin/sbatch', HOST_OS_CORE_COUNT: 0, HOST_OS_RAM_MB: 0 });
    const job = join(site.cwd, 'job.sh');
    writeFileSync(job, '#!/bin/sh\n#SBATCH -J bench\n#SBATCH --time=10\necho hello\n');
    const env = { PATH: '/usr/bin:/bin', VTORQUE_CONFIG: site.configPath, TMPDIR: site.tmp, SLURM_CONF: slurm.confPath };
    const inNs = ['nsenter', `--net=/run/netns/${ns}`, '--'];
    const sbatch = [...inNs, '/usr/bin/sbatch', '--hold', '-c', '1', '--mem=1G', job];
    const vsbatch = [...inNs, process.execPath, join(REPO, 'dist', 'vsbatch.mjs'), '--hold', '--vm', 'img=debian-12-x86_64.qcow2,vcpus=1,ram=1G', job];
    const time = (argv: string[]): number => timeRun(argv[0] as string, argv.slice(1), { env, cwd: site.cwd });
    for (let i = 0; i < 3; i++) time(vsbatch);
    const bare: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < pairs; i++) {
      bare.push(time(sbatch));
      ours.push(time(vsbatch));
    }
    emit('S2_vsbatch_added_ms', median(ours) - median(bare), 'ms', { target: 120, pairs, vsbatch_median_ms: median(ours), sbatch_median_ms: median(bare) });
  } finally {
    await slurm.down().catch((err: unknown) => process.stderr.write(`slurm down: ${String(err)}\n`));
    sh(['ip', 'netns', 'del', ns]);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(site.dir, { recursive: true, force: true });
  }
}
