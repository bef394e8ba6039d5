import { existsSync } from 'node:fs';
import { IMAGE_DIR } from '../test/e2e/helpers/vm-site.js';
import { multinodeCluster } from '../test/multinode/cluster.js';
import { emit } from './stats.js';

const READY = /vTorque: (\d+) VM\(s\) ready in ([\d.]+) s/;

/**
 * P3d: a real 3-node x 2-VM job against a real 1-node x 1-VM job, in the same run, on the
 * testbed (real Torque, every node's own libvirtd, TCG guests): the wall time from qsub to the
 * job's end, and the prologue's "ready in" (VMs up, reachable, node file written). The job
 * prints the VMs' host names reached from rank 0, so both jobs do the same work per VM.
 */
export async function benchMultinodeReal(): Promise<void> {
  if (process.getuid?.() !== 0 || !existsSync('/opt/torque-ref/sbin/pbs_mom')) {
    process.stdout.write(`${JSON.stringify({ metric: 'P3d_real_3x2_vs_1x1_ratio', value: null, unit: 'ratio', skipped: 'needs root and Torque in /opt/torque-ref (../shared/torque/install.sh)' })}\n`);
    return;
  }
  const log = (line: string): void => void process.stderr.write(`[bench multinode real] ${line}\n`);
  const c = multinodeCluster({ nodes: 3, user: 'vtqmn', imageDir: IMAGE_DIR, log, name: 'vtqbmn' });
  await c.open();
  try {
    c.writeUserFile('reach.sh', '#!/bin/sh\nfor ip in $(awk \'!seen[$0]++\' "$PBS_VMNODEFILE"); do ssh -i /var/spool/torque/vm/id_ed25519 -o UserKnownHostsFile=/var/spool/torque/vm/known_hosts -o BatchMode=yes "$ip" hostname; done\n', 0o755);
    const job = async (tag: string, nodes: string, vm: string): Promise<{ wall: number; ready: number; vms: number }> => {
      const t0 = performance.now();
      const id = c.vsub(['-N', tag, '-l', nodes, '-vm', vm, 'reach.sh']);
      const { info, out } = await c.finished(id, tag, 30 * 60_000);
      const wall = (performance.now() - t0) / 1000;
      const m = READY.exec(out);
      if (info.exit_status !== '0' || !m) throw new Error(`${tag}: exit ${info.exit_status}, no ready line in its output`);
      await c.nothingLeft(id);
      return { wall, ready: Number(m[2]), vms: Number(m[1]) };
    };
    const one = await job('b-1x1', `nodes=${c.node(1)}:ppn=1`, 'vcpus=1');
    const six = await job('b-3x2', `nodes=${c.node(1)}:ppn=2+${c.node(2)}:ppn=2+${c.node(3)}:ppn=2`, 'vcpus=1,vms_per_node=2');
    emit('P3d_real_3x2_vs_1x1_ratio', six.wall / one.wall, 'ratio', {
      wall_1x1_s: Math.round(one.wall * 10) / 10,
      wall_3x2_s: Math.round(six.wall * 10) / 10,
      ready_1x1_s: one.ready,
      ready_3x2_s: six.ready,
      ready_ratio: Math.round((six.ready / one.ready) * 100) / 100,
      vms: [one.vms, six.vms],
      cores: (await import('node:os')).cpus().length,
      note: 'the three nodes share this host: six TCG guests boot on its cores at once',
    });
  } finally {
    await c.close();
  }
}
