import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectNode, startOnNodes, type NodeAccess, type RemoteNode } from '../../src/engine/index.js';
import { REPO } from '../helpers/site.js';
import { engineSite, startInput } from './engine-harness.js';

// The head drives two nodes through their node agents (node-ops v1 over the agents' stdin and
// stdout, as over ssh): each agent is its own process with its own test:///default, so neither
// the head nor the other node shares its libvirt, spool or lock.
const quiet = { info: () => undefined, warn: () => undefined };
const capacity = { cores: 16, memMiB: 65536, numa: { 0: [...Array(16).keys()] } };

async function agents(names: readonly string[], crashStarts = 0): Promise<{ nodes: RemoteNode[]; sites: ReturnType<typeof engineSite>[] }> {
  const first = engineSite();
  const sites = names.map((_, i) => (i === 0 ? first : { ...engineSite(), baseImage: first.baseImage }));
  for (const s of sites) s.config = { ...s.config, VM_IMG_DIR: first.config.VM_IMG_DIR };
  const nodes = await Promise.all(
    names.map((name, i) =>
      connectNode({
        name,
        argv: [join(REPO, 'node_modules', '.bin', 'tsx'), join(REPO, 'test', 'engine', 'node-agent.fixture.ts'), JSON.stringify({ name, config: sites[i]?.config, capacity, crashStarts })],
        callTimeoutMs: 30_000,
        log: quiet,
      }),
    ),
  );
  return { nodes, sites };
}

/** MACs of the domains the node's own libvirt has (any job; test:///default starts with one), as the planner sees them. */
async function macsOn(node: NodeAccess): Promise<number> {
  const r = await node.reserve({ timeoutMs: 5000 });
  try {
    return r.state.usedMacs.size;
  } finally {
    await r.release();
  }
}

describe('engine head over node agents (node-ops v1)', () => {
  it('starts a job over two agents in rank order, each node making and recording only its own VMs; stops them all', async () => {
    const { nodes, sites } = await agents(['nb', 'na']);
    try {
      const before = await Promise.all(nodes.map(macsOn));
      const lines: string[] = [];
      const started = await startOnNodes(startInput('301.srv', sites[0]?.baseImage as string, { vms_per_node: 2 }), nodes, { config: sites[0]?.config as never, log: quiet, progress: (l) => lines.push(l) });
      expect(started.vms.map((v) => [v.node, v.rank])).toEqual([['nb', 0], ['nb', 1], ['na', 2], ['na', 3]]);
      expect(started.timeline.map((m) => m.phase)).toEqual(['plan', 'prepare', 'boot']);
      for (const [i, node] of ['nb', 'na'].entries()) {
        const spool = sites[i]?.config.SPOOL_DIR as string;
        expect(existsSync(join(spool, 'jobs', '301.srv', 'vms.json'))).toBe(true);
        for (const vm of started.vms) expect(existsSync(join(spool, 'jobs', '301.srv', 'vms', vm.name)), `${vm.name} on ${node}`).toBe(vm.node === node);
      }
      // One job key: nb (rank 0) made it, na's agent was given it over node-ops and wrote the same files.
      const keyFiles = (i: number) => ['id_ed25519', 'id_ed25519.pub'].map((f) => readFileSync(join(sites[i]?.config.SPOOL_DIR as string, 'jobs', '301.srv', 'ssh', f), 'utf8'));
      expect(keyFiles(0)[1]).toMatch(/^ssh-ed25519 \S+ vtorque-301\.srv\n$/);
      expect(keyFiles(1)).toEqual(keyFiles(0));
      expect(await macsOn(nodes[0] as NodeAccess)).toBe((before[0] as number) + 2);
      const stopped = await Promise.all(nodes.map((n) => n.stopVms('301.srv', { keepLogs: false })));
      expect(stopped.map((s) => s.domains.length)).toEqual([2, 2]);
      expect(await Promise.all(nodes.map(macsOn))).toEqual(before);
      expect(lines.join('\n')).toMatch(/planned 4 VM\(s\)[\s\S]*4 VM\(s\) running/);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  }, 60_000);

  it('a node whose agent dies during the boot: the start fails naming it, and the VMs the other node booted are torn down', async () => {
    const { nodes, sites } = await agents(['na', 'nb']);
    const [na, nb] = nodes as [RemoteNode, RemoteNode];
    try {
      const before = await macsOn(na);
      // nb's agent ends as soon as the head asks it to boot, while na boots its VMs.
      const dying: NodeAccess = {
        ...nb,
        reserve: async (o) => {
          const r = await nb.reserve(o);
          return { ...r, state: r.state, waitedMs: r.waitedMs, release: () => r.release(), prepare: (p, i) => r.prepare(p, i), boot: async (b) => {
            await nb.close();
            return r.boot(b);
          } };
        },
      };
      await expect(startOnNodes(startInput('302.srv', sites[0]?.baseImage as string), [na, dying], { config: sites[0]?.config as never, log: quiet })).rejects.toThrow(/node nb: its node agent ended/);
      expect(await macsOn(na)).toBe(before);
      expect(existsSync(join(sites[0]?.config.SPOOL_DIR as string, 'jobs', '302.srv'))).toBe(false);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  }, 60_000);

  it('a job key the agent cannot use (not a key; too long for node-ops): the start fails and nothing is left', async () => {
    const { nodes, sites } = await agents(['na', 'nb']);
    const [na, nb] = nodes as [RemoteNode, RemoteNode];
    try {
      // The head's key for nb replaced on its way to nb's agent.
      const withKey = (key: Buffer): NodeAccess => ({
        ...nb,
        reserve: async (o) => {
          const r = await nb.reserve(o);
          return { state: r.state, waitedMs: r.waitedMs, release: () => r.release(), boot: (b) => r.boot(b), prepare: (p, i) => r.prepare(p, { ...i, jobKey: key }) };
        },
      });
      const head = { config: sites[0]?.config as never, log: quiet };
      await expect(startOnNodes(startInput('303.srv', sites[0]?.baseImage as string), [na, withKey(Buffer.from('not a key\n'))], head)).rejects.toThrow(/job key from the head is not an OpenSSH private key/);
      await expect(startOnNodes(startInput('304.srv', sites[0]?.baseImage as string), [na, withKey(Buffer.alloc(60_000, 1))], head)).rejects.toThrow(/node-ops prepare: jobKey/);
      for (const [i, job] of [[0, '303.srv'], [1, '303.srv'], [0, '304.srv'], [1, '304.srv']] as const) expect(existsSync(join(sites[i]?.config.SPOOL_DIR as string, 'jobs', job)), `${job} on ${i}`).toBe(false);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  }, 60_000);

  it('reviveVms over node-ops: a VM whose qemu stopped is started again once, then given up; gone is given up; names it did not prepare are not reported', async () => {
    // The agent's libvirt stops every domain right after its first two starts.
    const { nodes, sites } = await agents(['na'], 2);
    const na = nodes[0] as RemoteNode;
    try {
      const started = await startOnNodes(startInput('305.srv', sites[0]?.baseImage as string), [na], { config: sites[0]?.config as never, log: quiet });
      const vms = started.vms.map((v) => v.name);
      const asked = [...vms, 'vtq-305.srv-other-1'];
      expect(await na.reviveVms(asked)).toEqual(vms.map((vm) => ({ vm, state: 'shutoff', action: 'started-again', qemuLog: null })));
      expect(await na.reviveVms(asked)).toEqual(vms.map((vm) => ({ vm, state: 'shutoff', action: 'given-up', qemuLog: null })));
      await na.stopVms('305.srv', { keepLogs: false });
      expect(await na.reviveVms(vms)).toEqual(vms.map((vm) => ({ vm, state: 'missing', action: 'given-up', qemuLog: null })));
      // Out of contract: the agent refuses it, naming the operation.
      await expect(na.reviveVms([''])).rejects.toThrow(/node-ops reviveVms: vms\.0/);
    } finally {
      await na.close();
    }
  }, 60_000);

  it("cpuTimes over node-ops: its VMs' qemu CPU time (the test driver's grows with the clock), null for a name it did not prepare and once they are gone", async () => {
    const { nodes, sites } = await agents(['na']);
    const na = nodes[0] as RemoteNode;
    try {
      const started = await startOnNodes(startInput('306.srv', sites[0]?.baseImage as string, { vms_per_node: 2 }), [na], { config: sites[0]?.config as never, log: quiet });
      const vms = started.vms.map((v) => v.name);
      const first = await na.cpuTimes([...vms, 'vtq-306.srv-other-1']);
      expect(first).toHaveLength(3);
      expect(first[2]).toBeNull();
      for (const ms of first.slice(0, 2)) expect(ms).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 50));
      const again = await na.cpuTimes(vms);
      for (const [i, ms] of again.entries()) expect(ms).toBeGreaterThan(first[i] as number);
      await na.stopVms('306.srv', { keepLogs: false });
      expect(await na.cpuTimes(vms)).toEqual([null, null]);
      await expect(na.cpuTimes([''])).rejects.toThrow(/node-ops cpuTimes: vms\.0/);
    } finally {
      await na.close();
    }
  }, 60_000);

  it('`vtorque node-agent` (the bundle a head starts over ssh) serves this node from its own config', async () => {
    const site = engineSite({ LOG_DIR: '' });
    const cfg = join(site.root, 'config.yaml');
    writeFileSync(cfg, `LIBVIRT_URI: 'test:///default'\nSPOOL_DIR: '${site.config.SPOOL_DIR}'\nVM_IMG_DIR: '${site.config.VM_IMG_DIR}'\nLOG_DIR: '${join(site.root, 'log')}'\n`);
    const node = await connectNode({ name: 'n7', argv: [process.execPath, join(REPO, 'dist', 'vtorque.mjs'), 'node-agent', '--config', cfg, '--name', 'n7'], callTimeoutMs: 30_000, log: quiet });
    try {
      expect(node.domainType).toBe('test');
      const r = await node.reserve({ timeoutMs: 5000 });
      expect(r.state.name).toBe('n7');
      expect(r.state.capacity.cores).toBeGreaterThan(0);
      // The lock is this node's own: taken under its SPOOL_DIR.
      expect(existsSync(join(site.config.SPOOL_DIR, 'node.lock'))).toBe(true);
      await r.release();
      // Nothing it prepared: nothing reported (an older bundle, whose hello lists no ops, is not asked at all).
      expect(await node.reviveVms(['vtq-none.srv-n7-1'])).toEqual([]);
      expect(await node.cpuTimes(['vtq-none.srv-n7-1'])).toEqual([null]);
      expect((await node.stopVms('none.srv', { keepLogs: false })).domains).toEqual([]);
    } finally {
      await node.close();
    }
  }, 60_000);
});
