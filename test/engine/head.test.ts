import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VmRecordsSchema } from '../../src/core/contract/job-state.v1.js';
import { localNode, openLibvirt, startOnNodes, type LibvirtNode, type NodeAccess, type NodeReservation } from '../../src/engine/index.js';
import { bigNode, engineContext, engineSite, leftovers, startInput } from './engine-harness.js';

// The head of a job over several nodes through NodeAccess. Each "node" here is a localNode with
// its own spool (so its own lock, job directory and records) behind one test:///default driver:
// the head cannot tell them from other hosts, which is what the seam is for.
let libvirt: LibvirtNode;
beforeAll(async () => {
  libvirt = await openLibvirt('test:///default');
});
afterAll(async () => {
  await libvirt.close();
});

function twoNodes(wrap: (n: NodeAccess) => NodeAccess = (n) => n) {
  const a = engineSite();
  // The pool is the site's: the same path (a shared or synced directory) on every node.
  const b = engineSite();
  b.config = { ...b.config, VM_IMG_DIR: a.config.VM_IMG_DIR };
  const nodeA = wrap(localNode(engineContext(a.config, libvirt), { name: 'na', observe: async () => bigNode('na') }));
  const nodeB = wrap(localNode(engineContext(b.config, libvirt), { name: 'nb', observe: async () => bigNode('nb') }));
  return { a, b, nodes: [nodeB, nodeA] as const };
}

/** `n` with its reservations' prepare replaced by `prepare(r)`, all else passed through (a class's methods do not spread). */
function onPrepare(n: NodeAccess, prepare: (r: NodeReservation) => NodeReservation['prepare']): NodeAccess {
  return {
    ...n,
    reserve: async (o) => {
      const r = await n.reserve(o);
      return { state: r.state, waitedMs: r.waitedMs, boot: (b) => r.boot(b), release: () => r.release(), prepare: prepare(r) };
    },
  };
}

describe('engine head: one job over two nodes', () => {
  it('plans in rank order over the nodes given, makes each node only its own VMs, records the whole job on rank 0\'s node, and stops them all', async () => {
    const { a, b, nodes } = twoNodes();
    const lines: string[] = [];
    // Rank order is the allocation's (nb first), not the names' (the locks are taken in name order).
    const started = await startOnNodes(startInput('201.srv', a.baseImage, { vms_per_node: 2 }), nodes, { config: a.config, log: { info: () => undefined, warn: () => undefined }, progress: (l) => lines.push(l) });
    try {
      expect(started.vms.map((v) => [v.node, v.rank])).toEqual([['nb', 0], ['nb', 1], ['na', 2], ['na', 3]]);
      expect(started.timeline.map((m) => m.phase)).toEqual(['plan', 'prepare', 'boot']);
      // What each node records is the contract's (job-state.v1), the one definition the runner parses with.
      const recordsOf = (spool: string) => v.parse(VmRecordsSchema, JSON.parse(readFileSync(join(spool, 'jobs', '201.srv', 'vms.json'), 'utf8')));
      // The node of rank 0 records the whole job (its runner needs every VM); the other only its own.
      expect(recordsOf(b.config.SPOOL_DIR).map((r) => [r.node, r.rank])).toEqual([['nb', 0], ['nb', 1], ['na', 2], ['na', 3]]);
      expect(recordsOf(a.config.SPOOL_DIR).map((r) => r.node)).toEqual(['na', 'na']);
      // Each node's VM directories are under its own spool, and only its own VMs are there.
      expect(existsSync(join(b.config.SPOOL_DIR, 'jobs', '201.srv', 'vms', started.vms[0]?.name as string))).toBe(true);
      expect(existsSync(join(a.config.SPOOL_DIR, 'jobs', '201.srv', 'vms', started.vms[0]?.name as string))).toBe(false);
      expect(lines.join('\n')).toMatch(/planned 4 VM\(s\)[\s\S]*4 VM\(s\) running/);
    } finally {
      await Promise.all(nodes.map((n) => n.stopVms('201.srv', { keepLogs: false })));
    }
    expect(await leftovers(libvirt, a.config, '201.srv')).toEqual([]);
    expect(await leftovers(libvirt, b.config, '201.srv')).toEqual([]);
  });

  it('one job key: the node of rank 0 is prepared first and makes it, the other is given it; both hold it for the owner and their VMs authorize it', async () => {
    // What each node was asked, and when: the head's side of the seam.
    const events: string[] = [];
    const given = new Map<string, Buffer | undefined>();
    const recording = (n: NodeAccess): NodeAccess =>
      onPrepare(n, (r) => async (p, i) => {
        events.push(`${n.name} prepare`);
        given.set(n.name, i.jobKey);
        const out = await r.prepare(p, i);
        events.push(`${n.name} prepared`);
        return out;
      });
    const { a, b, nodes } = twoNodes(recording);
    const started = await startOnNodes(startInput('205.srv', a.baseImage), nodes, { config: a.config, log: { info: () => undefined, warn: () => undefined } });
    try {
      // nb runs rank 0: it is prepared (and makes the key) before na starts preparing.
      expect(events).toEqual(['nb prepare', 'nb prepared', 'na prepare', 'na prepared']);
      const keyOf = (spool: string, file: string) => join(spool, 'jobs', '205.srv', 'ssh', file);
      expect(given.get('nb')).toBeUndefined();
      expect(given.get('na')?.equals(readFileSync(keyOf(b.config.SPOOL_DIR, 'id_ed25519')))).toBe(true);
      const pub = readFileSync(keyOf(b.config.SPOOL_DIR, 'id_ed25519.pub'), 'utf8');
      expect(pub).toMatch(/^ssh-ed25519 \S+ vtorque-205\.srv\n$/);
      expect(readFileSync(keyOf(a.config.SPOOL_DIR, 'id_ed25519.pub'), 'utf8')).toBe(pub);
      for (const spool of [a.config.SPOOL_DIR, b.config.SPOOL_DIR]) {
        const st = (f: string) => lstatSync(keyOf(spool, f));
        expect([st('id_ed25519').mode & 0o7777, st('id_ed25519').uid, st('id_ed25519.pub').mode & 0o7777, st('id_ed25519.pub').uid]).toEqual([0o600, 1001, 0o644, 1001]);
      }
      // Every VM, on either node, authorizes that key.
      for (const vm of started.vms) {
        const spool = vm.node === 'na' ? a.config.SPOOL_DIR : b.config.SPOOL_DIR;
        const userData = execFileSync('isoinfo', ['-i', join(spool, 'jobs', '205.srv', 'vms', vm.name, 'seed.iso'), '-R', '-x', '/user-data'], { encoding: 'utf8' });
        expect(userData, vm.name).toContain(pub.trim());
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stopVms('205.srv', { keepLogs: false })));
    }
  });

  it('the first node fails to prepare: no other node is prepared, and nothing is left on any node', async () => {
    const asked: string[] = [];
    const failingB = (n: NodeAccess): NodeAccess =>
      onPrepare(n, (r) => async (p, i) => {
        asked.push(n.name);
        return n.name === 'nb' ? Promise.reject(new Error('injected: node nb cannot prepare')) : r.prepare(p, i);
      });
    const { a, b, nodes } = twoNodes(failingB);
    await expect(startOnNodes(startInput('206.srv', a.baseImage), nodes, { config: a.config, log: { info: () => undefined, warn: () => undefined } })).rejects.toThrow(/node nb cannot prepare/);
    expect(asked).toEqual(['nb']);
    expect(await leftovers(libvirt, a.config, '206.srv')).toEqual([]);
    expect(await leftovers(libvirt, b.config, '206.srv')).toEqual([]);
  });

  it('a node that fails to boot its VMs: the start fails naming it and nothing is left on any node', async () => {
    const failingB = (n: NodeAccess): NodeAccess =>
      n.name !== 'nb'
        ? n
        : {
            ...n,
            reserve: async (o) => {
              const r = await n.reserve(o);
              return { state: r.state, waitedMs: r.waitedMs, prepare: (p, i) => r.prepare(p, i), release: () => r.release(), boot: async () => Promise.reject(new Error('injected: node nb cannot start its VMs')) };
            },
          };
    const { a, b, nodes } = twoNodes(failingB);
    const lines: string[] = [];
    await expect(startOnNodes(startInput('202.srv', a.baseImage), nodes, { config: a.config, log: { info: () => undefined, warn: () => undefined }, progress: (l) => lines.push(l) })).rejects.toThrow(/node nb cannot start/);
    expect(lines.join('\n')).toMatch(/start failed after .*tearing down/);
    expect(await leftovers(libvirt, a.config, '202.srv')).toEqual([]);
    expect(await leftovers(libvirt, b.config, '202.srv')).toEqual([]);
  });

  it('a node that cannot be reserved: nothing is made anywhere and every lock taken is released', async () => {
    const { a, b, nodes } = twoNodes((n) => (n.name === 'nb' ? { ...n, reserve: async () => Promise.reject(new Error('injected: node nb unreachable')) } : n));
    const head = { config: a.config, log: { info: () => undefined, warn: () => undefined } };
    await expect(startOnNodes(startInput('203.srv', a.baseImage), nodes, head)).rejects.toThrow(/node nb unreachable/);
    expect(await leftovers(libvirt, a.config, '203.srv')).toEqual([]);
    expect(await leftovers(libvirt, b.config, '203.srv')).toEqual([]);
    // na (taken first, by name) was released: a job on na alone starts at once.
    const t0 = performance.now();
    const alone = await startOnNodes(startInput('204.srv', a.baseImage), [nodes[1]], head);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(alone.vms.map((v) => v.node)).toEqual(['na', 'na']);
    await nodes[1].stopVms('204.srv', { keepLogs: false });
    expect(await leftovers(libvirt, a.config, '204.srv')).toEqual([]);
  });
});
