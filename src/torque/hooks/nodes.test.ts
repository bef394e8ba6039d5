import { describe, expect, it } from 'vitest';
import { allocatedMemory } from './nodes.js';

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
