import { hostname } from 'node:os';
import { VtorqueError } from '../../core/errors.js';
import { readFileNoFollow } from '../../core/fs/index.js';
import { parseResourceList, torqueSizeMiB } from '../qsub/index.js';

export const shortName = (host: string): string => host.split('.')[0] ?? host;

/** What Torque allocated to the job on one node. */
export interface NodeShare {
  readonly name: string;
  /** Slots (cores): the node's lines in PBS_NODEFILE. */
  readonly slots: number;
  /**
   * Memory Torque allocated to the job on this node, from its resource list (the prologue's
   * argv[5]), or null when the job asked Torque for none.
   */
  readonly memory: { readonly mib: number; readonly basis: string } | null;
}

export interface Allocation {
  /** Every node of the job in PBS_NODEFILE order (its first is the mother superior, rank 0). */
  readonly nodes: readonly NodeShare[];
  /** This host's short name. */
  readonly localName: string;
}

/**
 * The job's allocation from PBS_NODEFILE (root's copy in TORQUE_HOME/aux: one line per slot) and
 * the resource list pbs_mom passes. This is what the VMs must fit in, whatever the job script
 * claims. pbs_mom always sets PBS_NODEFILE for the mother superior's prologue: without it the
 * node is misconfigured (a node fault), never "no limit".
 */
export function readAllocation(nodefile: string | undefined, resources: string, local = hostname()): Allocation {
  if (!nodefile) throw new VtorqueError('USAGE', 'pbs_mom gave the prologue no PBS_NODEFILE: cannot tell which cores Torque allocated to the job', { fault: 'node' });
  let text: string;
  try {
    text = readFileNoFollow(nodefile.replace(/\/{2,}/g, '/'), 16 << 20);
  } catch (err) {
    throw new VtorqueError('COMMAND_FAILED', `cannot read the job's node file ${nodefile}: ${(err as Error).message}`, { cause: err, fault: 'node' });
  }
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean).map(shortName);
  const slots = new Map<string, number>();
  for (const name of lines) slots.set(name, (slots.get(name) ?? 0) + 1);
  const nodes = [...slots].map(([name, n]) => ({ name, slots: n, memory: allocatedMemory(resources, slots.size, n) }));
  return { nodes, localName: shortName(local) };
}

/** This node's share, then the others in node-file order: the lifecycle's rank order with this node first. */
export function localFirst(alloc: Allocation): NodeShare[] {
  const here = alloc.nodes.find((n) => n.name === alloc.localName) ?? { name: alloc.localName, slots: 0, memory: null };
  return [here, ...alloc.nodes.filter((n) => n.name !== alloc.localName)];
}

/**
 * Torque's memory limits for the job on one node: `mem` and `vmem` are for the whole job (a
 * node's share is the total over the job's nodes), `pmem` and `pvmem` per process, i.e. per slot.
 * Every limit given binds, so the smallest counts. A value Torque would not have accepted is refused.
 */
export function allocatedMemory(resources: string, nodeCount: number, localSlots: number): NodeShare['memory'] {
  const list = parseResourceList(resources);
  let best: { mib: number; basis: string } | null = null;
  for (const [key, perSlot] of [['mem', false], ['vmem', false], ['pmem', true], ['pvmem', true]] as const) {
    const value = list.get(key);
    if (value === undefined) continue;
    const mib = torqueSizeMiB(value);
    if (mib === undefined) throw new VtorqueError('REQUEST_INVALID', `the job's resource ${key}=${value} is not a Torque size (a number with b, kb, mb, gb or tb)`, { fault: 'job' });
    const local = Math.floor(perSlot ? mib * localSlots : mib / nodeCount);
    const basis = perSlot ? `${key}=${value} x ${localSlots} slot(s)` : nodeCount > 1 ? `${key}=${value} / ${nodeCount} nodes` : `${key}=${value}`;
    if (best === null || local < best.mib) best = { mib: local, basis };
  }
  return best;
}
