import { existsSync } from 'node:fs';
import { linkExists, netnsExists, sandboxStatus } from '../sandbox/index.js';
import { testbedLayout } from './layout.js';
import { holderPid } from './node-ns.js';
import type { Testbed } from './options.js';
import { sshdPid } from './sshd.js';
import { slurmDaemonsOf, slurmNodeStates, slurmPid } from './slurm.js';
import { daemonsOf, nodeStates, torquePid } from './torque.js';

export interface TestbedNodeStatus {
  readonly name: string;
  readonly address: string;
  readonly guestSubnet: string;
  readonly netns: boolean;
  readonly holder: number | null;
  /** Program → pid (null: not running) of every daemon the node should run. */
  readonly pids: Readonly<Record<string, number | null>>;
  /** pbsnodes' state of the node, from the head's server ('' when unknown). */
  /** The node's state as its scheduler reports it (Torque: pbsnodes, `free`; Slurm: sinfo, `idle`). */
  readonly torqueState: string;
  /** libvirt's socket for clients in the root namespace: `qemu:///system?socket=…`. */
  readonly uri: string;
}

export interface TestbedStatus {
  readonly name: string;
  readonly scheduler: 'torque' | 'slurm';
  readonly stateDir: string;
  readonly hub: { readonly ns: string; readonly netns: boolean; readonly bridge: boolean; readonly bridgeInRootNs: boolean };
  readonly nodes: readonly TestbedNodeStatus[];
  /** Every node's namespace holder and daemons run, and Torque says every node is free. */
  readonly ready: boolean;
}

export async function collectTestbedStatus(tb: Testbed): Promise<TestbedStatus> {
  const l = testbedLayout(tb);
  const hubNs = await netnsExists(tb.hub.ns);
  const headHolder = tb.nodes[0] ? holderPid(tb.nodes[0], l.node(tb.nodes[0])) : null;
  const slurm = tb.scheduler === 'slurm';
  const states = headHolder === null ? {} : slurm ? await slurmNodeStates(l, headHolder) : await nodeStates(tb, headHolder);
  const nodes: TestbedNodeStatus[] = [];
  for (const node of tb.nodes) {
    const nl = l.node(node);
    const netns = await netnsExists(node.name);
    const libvirt = await sandboxStatus({ name: node.name, stateDir: nl.libvirtStateDir, network: { name: tb.vmNetwork.name, bridge: tb.vmNetwork.bridge } });
    const pids: Record<string, number | null> = { libvirtd: libvirt.pids.libvirtd, virtlogd: libvirt.pids.virtlogd, sshd: netns ? sshdPid(node, nl) : null };
    if (slurm) for (const d of slurmDaemonsOf(node)) pids[d] = netns ? await slurmPid(node, d) : null;
    else for (const d of daemonsOf(node)) pids[d] = netns ? await torquePid(node, d) : null;
    nodes.push({
      name: node.name,
      address: node.address,
      guestSubnet: `${node.guestSubnet}.0/24`,
      netns,
      holder: netns ? holderPid(node, nl) : null,
      pids,
      torqueState: states[node.name] ?? '',
      uri: libvirt.uri,
    });
  }
  const ready = nodes.every((n) => n.holder !== null && Object.values(n.pids).every((p) => p !== null) && n.torqueState === (slurm ? 'idle' : 'free'));
  return {
    name: tb.name,
    scheduler: tb.scheduler,
    stateDir: existsSync(tb.stateDir) ? tb.stateDir : `${tb.stateDir} (absent)`,
    hub: { ns: tb.hub.ns, netns: hubNs, bridge: hubNs && (await linkExists(tb.hub.ns, tb.hub.bridge)), bridgeInRootNs: await linkExists(null, tb.hub.bridge) },
    nodes,
    ready,
  };
}

export function formatTestbedStatus(s: TestbedStatus): string[] {
  const pid = (p: number | null): string => (p === null ? 'down' : String(p));
  return [
    `testbed ${s.name}: ${s.ready ? 'ready' : 'not ready'} (state ${s.stateDir})`,
    `  interconnect: netns ${s.hub.ns} ${s.hub.netns ? 'present' : 'absent'}, bridge ${s.hub.bridge ? 'up' : 'absent'}${s.hub.bridgeInRootNs ? ' (ALSO IN THE ROOT NAMESPACE)' : ''}`,
    ...s.nodes.flatMap((n) => [
      `  ${n.name}: ${n.address}, guests ${n.guestSubnet}, netns ${n.netns ? 'present' : 'absent'}, holder ${pid(n.holder)}, ${s.scheduler} ${n.torqueState || 'unknown'}`,
      `    ${Object.entries(n.pids).map(([k, p]) => `${k} ${pid(p)}`).join(', ')}`,
      `    uri: ${n.uri}`,
    ]),
  ];
}
