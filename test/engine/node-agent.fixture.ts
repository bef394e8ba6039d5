// A node agent over libvirt's test driver, for tests: `tsx node-agent.fixture.ts '<json>'` with
// {name, config, capacity}. Each agent process has its own test:///default, so two agents are two
// nodes with their own libvirt, spool and lock, as two hosts would be.
import { localNode, observeNode, openLibvirt, serveNodeOps } from '../../src/engine/index.js';
import type { SiteConfig } from '../../src/core/config/schema.js';
import type { HostCapacity } from '../../src/core/node/capacity.js';
import { engineContext } from './engine-harness.js';

const { name, config, capacity } = JSON.parse(process.argv[2] ?? '{}') as { name: string; config: SiteConfig; capacity: HostCapacity };
const libvirt = await openLibvirt('test:///default');
const log = { info: () => undefined, warn: (o: object, m: string) => void process.stderr.write(`${m} ${JSON.stringify(o)}\n`) };
const node = localNode({ ...engineContext(config, libvirt), log }, { name, observe: () => observeNode(name, capacity, libvirt) });
await serveNodeOps(node, process.stdin, process.stdout, log);
await libvirt.close();
