import { mkdirSync, writeFileSync } from 'node:fs';
import { buildImage, linkImageIntoPool } from '../image/index.js';
import { sandboxUp } from '../sandbox/index.js';
import { installOnNode } from './install.js';
import { renderHosts, testbedLayout } from './layout.js';
import { libvirtLog, makeNodeDirs, startHolder } from './node-ns.js';
import { resolveTestbedOptions, type TestbedOptions } from './options.js';
import { requireTestbedTools } from './preconditions.js';
import { writeRecord } from './record.js';
import { prepareKeys, startSshd } from './sshd.js';
import { collectTestbedStatus, type TestbedStatus } from './status.js';
import { checkAgentChannel } from './channel.js';
import { slurmPaths, startSlurm, waitSlurmIdle } from './slurm.js';
import { prepareTorqueHome, startTorque, waitNodesFree } from './torque.js';
import { ensureInterconnect } from './topology.js';

/**
 * Bring the testbed up (idempotent: what runs is kept): the interconnect, then per node its
 * namespaces, libvirtd and virtlogd with a routed guest network, sshd, its TORQUE_HOME and
 * `vtorque setup`; then Torque (server, scheduler and trqauthd on the head, a pbs_mom on every
 * node) until every node is free, and a check that the head reaches every node's agent.
 */
export async function testbedUp(opts: TestbedOptions): Promise<TestbedStatus> {
  const tb = resolveTestbedOptions(opts);
  requireTestbedTools(tb, 'up');
  const l = testbedLayout(tb);
  const started = performance.now();
  const step = (line: string): void => tb.log(`[testbed +${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  mkdirSync(tb.stateDir, { recursive: true, mode: 0o755 });
  for (const dir of [l.poolDir, l.installDir]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeRecord(l.stateFile, { version: 1, name: tb.name, nodes: tb.nodes.length, subnet: tb.subnet, scheduler: tb.scheduler, createdAt: new Date().toISOString() });
  writeFileSync(l.hostsFile, renderHosts(tb), { mode: 0o644 });
  for (const node of tb.nodes) makeNodeDirs(l.node(node));
  await prepareKeys(tb, l);

  step(`guest image from ${tb.imageDir} into the shared pool ${l.poolDir}`);
  const image = await buildImage({ outDir: tb.imageDir, cacheDir: '/var/cache/vtorque', log: (line) => step(`image: ${line}`) });
  linkImageIntoPool(image.artifacts, l.poolDir);

  await ensureInterconnect({ ...tb, log: step });
  const holders = new Map<string, number>();
  for (const node of tb.nodes) {
    const nl = l.node(node);
    step(`node ${node.name} (${node.address}, guests ${node.guestSubnet}.0/24)`);
    if (tb.scheduler === 'torque') prepareTorqueHome(tb, nl);
    const holder = await startHolder(node, nl, step);
    holders.set(node.name, holder);
    await sandboxUp({
      name: node.name,
      stateDir: nl.libvirtStateDir,
      network: { name: tb.vmNetwork.name, bridge: tb.vmNetwork.bridge, subnet: node.guestSubnet, domain: `${node.name}.test`, forward: 'route' },
      holderPid: holder,
      log: libvirtLog((line) => step(`${node.name} libvirt: ${line}`)),
    });
    step(`node ${node.name}: sshd pid ${await startSshd(tb, node, nl, l, holder)} on ${node.address}:22`);
    step(`node ${node.name}: vtorque ${await installOnNode(tb, nl, l, holder, node.name)} in ${l.installDir}`);
  }
  const head = tb.nodes[0];
  const headHolder = holders.get(head?.name ?? '') as number;
  if (tb.scheduler === 'slurm') {
    await startSlurm({ ...tb, log: step }, l, holders);
    const states = await waitSlurmIdle(tb, l, headHolder);
    step(`Slurm (${slurmPaths(l).conf}): ${Object.entries(states).map(([n, s]) => `${n} ${s}`).join(', ')}`);
  } else {
    // The server first (the moms report to it), then every node's pbs_mom.
    for (const node of tb.nodes) await startTorque({ ...tb, log: step }, node, l.node(node), holders.get(node.name) as number);
    const states = await waitNodesFree(tb, headHolder);
    step(`Torque: ${Object.entries(states).map(([n, s]) => `${n} ${s}`).join(', ')}`);
  }
  for (const line of await checkAgentChannel(tb, l, headHolder)) step(line);
  const status = await collectTestbedStatus(tb);
  step(`testbed ${tb.name} up: ${tb.nodes.length} node(s)`);
  return status;
}
