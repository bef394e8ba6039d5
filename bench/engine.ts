import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openLibvirt, startJobVms, stopJobVms } from '../src/engine/index.js';
import { engineContext, engineSite, leftovers, startInput } from '../test/engine/engine-harness.js';
import { emit, median, timeRun } from './stats.js';

/**
 * P3: plan+prepare+boot(+ready) of 8 VMs on one node with the libvirt test driver (real qemu-img,
 * ssh-keygen and genisoimage work; the test driver stands in for qemu). P5: their teardown and what
 * leaked. P6: a qcow2 overlay on a 1 GiB base against the full copy the original made per VM.
 */
export async function benchEngine(runs = 5): Promise<void> {
  const libvirt = await openLibvirt('test:///default');
  const { config, baseImage, root } = engineSite();
  const ctx = engineContext(config, libvirt);
  const start: number[] = [];
  const stop: number[] = [];
  let leaked = 0;
  try {
    for (let i = 0; i < runs + 1; i++) {
      const jobId = `${9000 + i}.bench`;
      const t0 = performance.now();
      await startJobVms(startInput(jobId, baseImage, { vms_per_node: 8 }), ctx);
      const t1 = performance.now();
      await stopJobVms(jobId, ctx, { keepLogs: false });
      const t2 = performance.now();
      if (i > 0) {
        start.push((t1 - t0) / 1000);
        stop.push((t2 - t1) / 1000);
      }
      leaked += (await leftovers(libvirt, config, jobId)).length;
    }
  } finally {
    await libvirt.close();
  }
  emit('P3_orchestrate_8vms_s', median(start), 's', { target: 0.5, runs, driver: 'test:///default' });
  emit('P5_teardown_8vms_s', median(stop), 's', { target: 2, runs });
  emit('P5_leaked', leaked, 'count', { target: 0, what: 'domains, files, mounts left after stop' });

  const raw = join(root, 'base-1g.raw');
  spawnSync('dd', ['if=/dev/urandom', `of=${raw}`, 'bs=1M', 'count=1024', 'status=none']);
  const overlay: number[] = [];
  const copy: number[] = [];
  for (let i = 0; i < 5; i++) {
    const ov = join(root, `ov${i}.qcow2`);
    overlay.push(timeRun('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', raw, '-F', 'raw', ov]));
    rmSync(ov);
    if (i < 3) {
      const cp = join(root, `copy${i}.raw`);
      copy.push(timeRun('cp', [raw, cp]));
      rmSync(cp);
    }
  }
  emit('P6_overlay_ms', median(overlay), 'ms', { target: 50, base: '1 GiB raw' });
  emit('P6_copy_vs_overlay_ratio', median(copy) / median(overlay), 'ratio', { copy_ms: median(copy), overlay_ms: median(overlay) });
  rmSync(root, { recursive: true, force: true });
}
