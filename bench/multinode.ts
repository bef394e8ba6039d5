import { join } from 'node:path';
import { connectNode, startOnNodes, type NodeAccess, type NodeReservation, type RemoteNode } from '../src/engine/index.js';
import type { SiteConfig } from '../src/core/config/schema.js';
import { REPO } from '../test/helpers/site.js';
import { bigNode, engineSite, startInput } from '../test/engine/engine-harness.js';
import { emit, median } from './stats.js';

const quiet = { info: () => undefined, warn: () => undefined };
const capacity = { cores: 16, memMiB: 65536, numa: { 0: [...Array(16).keys()] } };

/** `n` node agents (node-ops v1 over their stdin/stdout), each its own process with its own test:///default and spool. */
async function agents(n: number): Promise<{ nodes: RemoteNode[]; config: SiteConfig; baseImage: string }> {
  const first = engineSite({ MAX_VMS_PER_NODE: 16 });
  const configs = Array.from({ length: n }, (_, i) => (i === 0 ? first.config : { ...engineSite({ MAX_VMS_PER_NODE: 16 }).config, VM_IMG_DIR: first.config.VM_IMG_DIR }));
  const nodes = await Promise.all(
    configs.map((config, i) =>
      connectNode({
        name: `n${String(i).padStart(2, '0')}`,
        argv: [join(REPO, 'node_modules', '.bin', 'tsx'), join(REPO, 'test', 'engine', 'node-agent.fixture.ts'), JSON.stringify({ name: `n${String(i).padStart(2, '0')}`, config, capacity })],
        callTimeoutMs: 60_000,
        log: quiet,
      }),
    ),
  );
  return { nodes, config: first.config, baseImage: first.baseImage };
}

async function timedStarts(nodes: readonly NodeAccess[], config: SiteConfig, baseImage: string, vmsPerNode: number, runs: number, tag: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const jobId = `${9500 + i}.${tag}`;
    const t0 = performance.now();
    await startOnNodes(startInput(jobId, baseImage, { vms_per_node: vmsPerNode, vcpus: 1 }), nodes, { config, log: quiet });
    const s = (performance.now() - t0) / 1000;
    await Promise.all(nodes.map((n) => n.stopVms(jobId, { keepLogs: false })));
    if (i > 0) times.push(s); // the first run warms each agent's caches
  }
  return times;
}

/** A node that costs nothing: what the head itself spends on a 1,000-node job (plan, fan-out, bookkeeping). */
function instantNode(name: string): NodeAccess {
  const state = bigNode(name);
  return {
    name,
    domainType: 'test',
    reserve: async (): Promise<NodeReservation> => ({
      state,
      waitedMs: 0,
      prepare: async (plan) => ({ vms: plan.vms.filter((v) => v.node === name).map((v) => ({ name: v.name, hostKeyPublic: 'ssh-ed25519 AAAA', fastSeed: true, persistentDisk: false })), userKey: Buffer.from('k'), qemu: null }),
      boot: async () => ({ bootSince: Date.now(), stale: new Set() }),
      release: async () => undefined,
    }),
    readNeighbours: async () => '',
    leases: null,
    consoleSize: () => null,
    cpuTimes: async (vms) => vms.map(() => null),
    reviveVms: async () => [],
    writeVmRecords: async () => undefined,
    stopVms: async () => ({ domains: [], files: [], arp: [] }),
  };
}

/**
 * P3b: one job of 8 nodes x 8 VMs through eight node agents (each a process with its own libvirt
 * test driver and spool: real qemu-img, ssh-keygen and genisoimage work on every node), against
 * one node x 8 VMs through one agent, in the same run. P3c: the head alone over 1,000 nodes that
 * cost nothing (plan, bounded fan-out, records), with its peak memory.
 */
export async function benchMultinode(runs = 3): Promise<void> {
  const { nodes, config, baseImage } = await agents(8);
  let one: number[];
  let eight: number[];
  try {
    one = await timedStarts(nodes.slice(0, 1), config, baseImage, 8, runs, 'mn1');
    eight = await timedStarts(nodes, config, baseImage, 8, runs, 'mn8');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
  emit('P3b_orchestrate_64vms_8nodes_s', median(eight), 's', { target: 2, runs, one_node_8vms_s: median(one), ratio: median(eight) / median(one), ratio_target: 3, channel: 'node-ops v1 over stdin/stdout (no ssh)', cores: (await import('node:os')).cpus().length });

  const fake = Array.from({ length: 1000 }, (_, i) => instantNode(`c${String(i).padStart(4, '0')}`));
  const times: number[] = [];
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const site = engineSite({ MAX_VMS_PER_NODE: 16 });
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await startOnNodes(startInput(`${9600 + i}.mn1000`, site.baseImage, { vms_per_node: 1, vcpus: 1 }), fake, { config: site.config, log: quiet });
    times.push((performance.now() - t0) / 1000);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  clearInterval(sampler);
  emit('P3c_plan_fanout_1000nodes_s', median(times), 's', { target: 1, runs, peak_rss_mb: Math.round(peak / 2 ** 20), memory_target_mb: 200 });
  // P3d: the real 3-node x 2-VM job against the 1-node x 1-VM job on the testbed (root only).
  await (await import('./multinode-real.js')).benchMultinodeReal();
}
