import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSite, REPO } from '../test/helpers/site.js';
import { emit, median, timeRun } from './stats.js';

/**
 * P2_vsub_added_ms: what vsub adds to a VM-job submission. Alternating runs of (a) the stub qsub
 * alone and (b) vsub submitting a VM job to that stub; the difference of the medians, same run.
 */
export async function benchVsub(pairs = 40): Promise<void> {
  const site = makeSite();
  const stub = join(site.dir, 'qsub-fast');
  writeFileSync(stub, '#!/bin/sh\necho 1.bench\n', { mode: 0o755 });
  site.writeConfig({ PBS_QSUB_ON_NODES: stub, PBS_QSUB_ON_FE: stub });
  const job = join(site.cwd, 'job.sh');
  writeFileSync(job, '#!/bin/sh\n#PBS -N bench\n#PBS -l walltime=00:10:00\necho hello\n');
  const env = { PATH: process.env.PATH, VTORQUE_CONFIG: site.configPath, TMPDIR: site.tmp };
  const vsubArgs = [join(REPO, 'dist', 'vsub.mjs'), '-l', 'nodes=1', '-vm', 'img=debian-12-x86_64.qcow2,vcpus=1,ram=1G', job];
  const plainArgs = [join(REPO, 'dist', 'vsub.mjs'), '-l', 'nodes=1', job];
  const stubTimes: number[] = [];
  const vsubTimes: number[] = [];
  const plainTimes: number[] = [];
  for (let i = 0; i < 3; i++) timeRun(process.execPath, vsubArgs, { env, cwd: site.cwd }); // warm the page cache
  for (let i = 0; i < pairs; i++) {
    stubTimes.push(timeRun(stub, [job], { env, cwd: site.cwd }));
    vsubTimes.push(timeRun(process.execPath, vsubArgs, { env, cwd: site.cwd }));
    plainTimes.push(timeRun(process.execPath, plainArgs, { env, cwd: site.cwd }));
  }
  const stubMs = median(stubTimes);
  emit('P2_vsub_added_ms', median(vsubTimes) - stubMs, 'ms', { target: 120, pairs, vsub_median_ms: median(vsubTimes), stub_median_ms: stubMs });
  emit('vsub_plain_added_ms', median(plainTimes) - stubMs, 'ms', { pairs, note: 'plain job passed through to qsub' });
}
