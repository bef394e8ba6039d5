import { run } from '../core/exec/run.js';
import { deleteNetns, ensureNetns, linkExists } from '../sandbox/index.js';
import type { Testbed, TestbedNode } from './options.js';

const IP_TIMEOUT_MS = 10_000;
const ip = (args: readonly string[]): Promise<unknown> => run('ip', args, { timeoutMs: IP_TIMEOUT_MS });

/**
 * The interconnect: a bridge inside the hub netns (never in the root namespace), one veth per
 * node (`<node>` on the hub's side, `eth0` inside the node) with the node's address, and routes
 * in every node to every other node's guest /24 via that node, so guests and heads reach the
 * guests of every node without NAT. Idempotent.
 */
export async function ensureInterconnect(tb: Testbed): Promise<void> {
  const { ns, bridge } = tb.hub;
  if (await ensureNetns(ns)) tb.log(`created hub netns ${ns}`);
  if (!(await linkExists(ns, bridge))) {
    await ip(['-n', ns, 'link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    tb.log(`bridge ${bridge} made inside netns ${ns} (only there)`);
  }
  await ip(['-n', ns, 'link', 'set', bridge, 'up']);
  for (const node of tb.nodes) await attachNode(tb, node);
  for (const node of tb.nodes) await routeNode(tb, node);
}

async function attachNode(tb: Testbed, node: TestbedNode): Promise<void> {
  if (await ensureNetns(node.name)) tb.log(`created netns ${node.name}`);
  if (!(await linkExists(node.name, 'eth0'))) {
    // Made in the hub, its peer moved straight into the node: no end ever exists in the root namespace.
    await ip(['-n', tb.hub.ns, 'link', 'add', node.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.name]);
    await ip(['-n', node.name, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
  }
  await ip(['-n', tb.hub.ns, 'link', 'set', node.name, 'master', tb.hub.bridge, 'up']);
  await ip(['-n', node.name, 'link', 'set', 'eth0', 'up']);
}

async function routeNode(tb: Testbed, node: TestbedNode): Promise<void> {
  for (const other of tb.nodes) {
    if (other.index === node.index) continue;
    await ip(['-n', node.name, 'route', 'replace', `${other.guestSubnet}.0/24`, 'via', other.address, 'dev', 'eth0']);
  }
}

/** Remove every node's netns (its veth goes with it) and the hub's. Returns the names deleted. */
export async function removeInterconnect(tb: Testbed, nodes: readonly TestbedNode[]): Promise<string[]> {
  const gone: string[] = [];
  for (const name of [...nodes.map((n) => n.name), tb.hub.ns]) if (await deleteNetns(name)) gone.push(name);
  return gone;
}
