import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeRaise, formatResourceList, mergeResourceLists } from '../../cli/vsub/resources.js';
import { allocatedMemory, localFirst, readAllocation } from './nodes.js';

describe('readAllocation: every node of the job from PBS_NODEFILE', () => {
  it('each node with its own slots and memory, in node-file order; this node first for the lifecycle', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-nodes-'));
    try {
      const file = join(dir, '12.srv');
      writeFileSync(file, 'n01.cluster\nn01.cluster\nn01.cluster\nn02\nn03.cluster\nn03.cluster\n');
      const alloc = readAllocation(file, 'nodes=3,pmem=256mb', 'n03.cluster.example');
      expect(alloc.localName).toBe('n03');
      expect(alloc.nodes).toEqual([
        { name: 'n01', slots: 3, memory: { mib: 768, basis: 'pmem=256mb x 3 slot(s)' } },
        { name: 'n02', slots: 1, memory: { mib: 256, basis: 'pmem=256mb x 1 slot(s)' } },
        { name: 'n03', slots: 2, memory: { mib: 512, basis: 'pmem=256mb x 2 slot(s)' } },
      ]);
      expect(localFirst(alloc).map((n) => n.name)).toEqual(['n03', 'n01', 'n02']);
      expect(readAllocation(file, 'mem=6gb', 'n02').nodes.map((n) => n.memory?.mib)).toEqual([2048, 2048, 2048]);
      // A host the node file does not name has no share: 0 slots (the lifecycle then refuses).
      expect(localFirst(readAllocation(file, 'mem=6gb', 'elsewhere'))[0]).toEqual({ name: 'elsewhere', slots: 0, memory: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('allocatedMemory: what Torque gave the job on one node', () => {
  it('mem and vmem are for the whole job (a node\'s share), pmem and pvmem per slot; the smallest limit binds', () => {
    expect(allocatedMemory('nodes=1:ppn=2,mem=2gb', 1, 2)).toEqual({ mib: 2048, basis: 'mem=2gb' });
    expect(allocatedMemory('nodes=2:ppn=2,mem=4gb', 2, 2)).toEqual({ mib: 2048, basis: 'mem=4gb / 2 nodes' });
    expect(allocatedMemory('pmem=512mb', 1, 3)).toEqual({ mib: 1536, basis: 'pmem=512mb x 3 slot(s)' });
    expect(allocatedMemory('mem=8gb,vmem=1gb', 1, 2)).toEqual({ mib: 1024, basis: 'vmem=1gb' });
    expect(allocatedMemory('mem=8gb,pvmem=100mb', 1, 2)).toEqual({ mib: 200, basis: 'pvmem=100mb x 2 slot(s)' });
    expect(allocatedMemory('mem=2147483648b', 1, 1)?.mib).toBe(2048);
    expect(allocatedMemory('mem=262144kw', 1, 1)?.mib).toBe(2048); // words are 8 bytes
  });

  it('none asked for: null (the prologue refuses); a value Torque would not take: refused as the job\'s', () => {
    expect(allocatedMemory('nodes=1:ppn=2,walltime=01:00:00', 1, 2)).toBeNull();
    expect(allocatedMemory('', 1, 2)).toBeNull();
    expect(() => allocatedMemory('mem=lots', 1, 1)).toThrow(/mem=lots is not a Torque size/);
    expect(() => allocatedMemory('pmem=1.5gb', 1, 1)).toThrow(/pmem=1\.5gb/);
  });
});

describe("vsub's honest raise and the prologue's check of every node agree", () => {
  /** PBS_NODEFILE as Torque writes it for a nodes= spec: a count becomes that many nodes (n1, n2, ...), a host name itself; ppn lines each. */
  function nodeFileFor(nodes: string): string {
    let next = 0;
    return nodes.replace(/#.*$/, '').split('+').flatMap((spec) => {
      const [head = '1', ...rest] = spec.split(':');
      const ppn = Number(rest.find((p) => p.startsWith('ppn='))?.slice(4) ?? '1');
      const hosts = /^\d+$/.test(head) ? Array.from({ length: Number(head) }, () => `n${++next}`) : [head];
      return hosts.flatMap((h) => Array<string>(ppn).fill(h));
    }).join('\n');
  }

  it.each([
    'nodes=2',
    'nodes=2:ppn=1,mem=1gb',
    'nodes=3:ppn=1#excl',
    'nodes=gpu01+2:ppn=8',
    'nodes=2:ppn=4,vmem=1gb',
    'nodes=2:ppn=8,pmem=100mb,pvmem=1gb',
    'nodes=4:ppn=3,mem=100gb,pmem=64mb',
  ])('%s: what vsub asks for, Torque gives each node, and the prologue finds enough there', (asked) => {
    const need = { ppn: 3, memMiBPerNode: 2560 };
    const raise = computeRaise(mergeResourceLists([asked]), need);
    const list = mergeResourceLists([asked, formatResourceList(raise.set)]);
    const dir = mkdtempSync(join(tmpdir(), 'vtq-nodes-'));
    try {
      const file = join(dir, '7.srv');
      writeFileSync(file, nodeFileFor(list.get('nodes') ?? ''));
      const alloc = readAllocation(file, formatResourceList(list), 'n1');
      expect(alloc.nodes).toHaveLength(raise.nodeCount);
      for (const node of alloc.nodes) {
        expect(node.slots, node.name).toBeGreaterThanOrEqual(need.ppn);
        expect(node.memory?.mib, `${node.name}: ${node.memory?.basis}`).toBeGreaterThanOrEqual(need.memMiBPerNode);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
