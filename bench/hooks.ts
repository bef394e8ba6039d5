import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSetup } from '../src/admin/setup/index.js';
import { torqueHooks } from '../src/torque/install/index.js';
import { REPO } from '../test/helpers/site.js';
import { emit, median, timeRun } from './stats.js';

/**
 * P1_passthrough_added_ms: what vTorque's installed prologue + epilogue add to a plain (non-VM)
 * job, against empty `sh` hooks, each called as pbs_mom calls them (argv, near-empty env), in
 * alternating pairs in one run. Every job on the cluster pays this.
 */
export async function benchHooks(pairs = 40): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'vtq-bench-hooks-'));
  const ours = join(root, 'torque', 'mom_priv');
  const empty = join(root, 'empty', 'mom_priv');
  for (const d of [join(ours, 'jobs'), join(empty, 'jobs')]) mkdirSync(d, { recursive: true });
  await runSetup(
    { prefix: join(root, 'prefix'), momPriv: ours, uninstall: false, dryRun: false, configPath: join(root, 'config.yaml'), profileDir: join(root, 'profile.d'), sourceRoot: REPO, nodePath: process.execPath, torqueHome: join(root, 'torque') },
    () => undefined,
    torqueHooks,
  );
  for (const hook of ['prologue', 'epilogue']) {
    writeFileSync(join(empty, hook), '#!/bin/sh\nexit 0\n');
    chmodSync(join(empty, hook), 0o500);
  }
  const sc = join(ours, 'jobs', '1.bench.SC');
  writeFileSync(sc, '#!/bin/sh\n#PBS -N plain\n#PBS -l walltime=00:10:00\necho plain job\n');
  const env = { PATH: '/bin:/usr/bin', LANG: 'C.UTF-8', PBS_MSHOST: 'node01', PBS_NODENUM: '0', PBS_NP: '1', PBS_NUM_NODES: '1', PBS_NUM_PPN: '1', PBS_O_WORKDIR: '/tmp' };
  const pro = ['1.bench', 'alice', 'alice', 'plain', 'nodes=1', 'batch', '', sc];
  const epi = ['1.bench', 'alice', 'alice', 'plain', '4242', 'nodes=1', 'cput=00:00:00', 'batch', '', '0', sc];
  const pair = (dir: string): number => timeRun(join(dir, 'prologue'), pro, { env, cwd: dir }) + timeRun(join(dir, 'epilogue'), epi, { env, cwd: dir });
  for (let i = 0; i < 5; i++) pair(ours);
  const base: number[] = [];
  const vt: number[] = [];
  for (let i = 0; i < pairs; i++) {
    base.push(pair(empty));
    vt.push(pair(ours));
  }
  emit('P1_passthrough_added_ms', median(vt) - median(base), 'ms', { target: 5, pairs, vtorque_pair_ms: median(vt), empty_sh_pair_ms: median(base) });
  rmSync(root, { recursive: true, force: true });
}
