// A node agent over libvirt's test driver, for tests: `tsx node-agent.fixture.ts '<json>'` with
// {name, config, capacity, crashStarts?} (crashStarts: the first n starts of each domain are
// followed by its destroy, as a qemu that stops during the boot). Each agent process has its own test:///default, so two agents are two
// nodes with their own libvirt, spool and lock, as two hosts would be.
import { localNode, observeNode, openLibvirt, serveNodeOps } from '../../src/engine/index.js';
import type { SiteConfig } from '../../src/core/config/schema.js';
import type { HostCapacity } from '../../src/core/node/capacity.js';
import { engineContext } from './engine-harness.js';
import { spyNode } from './helpers.js';

const { name, config, capacity, crashStarts = 0 } = JSON.parse(process.argv[2] ?? '{}') as { name: string; config: SiteConfig; capacity: HostCapacity; crashStarts?: number };
const libvirt = await openLibvirt('test:///default');
const starts = new Map<string, number>();
const crashing = {
  ...spyNode(libvirt),
  start: async (d: string) => {
    await libvirt.start(d);
    starts.set(d, (starts.get(d) ?? 0) + 1);
    if ((starts.get(d) as number) <= crashStarts) await libvirt.destroy(d);
  },
};
const log = { info: () => undefined, warn: (o: object, m: string) => void process.stderr.write(`${m} ${JSON.stringify(o)}\n`) };
const node = localNode({ ...engineContext(config, crashing), log }, { name, observe: () => observeNode(name, capacity, libvirt) });
await serveNodeOps(node, process.stdin, process.stdout, log);
await libvirt.close();
