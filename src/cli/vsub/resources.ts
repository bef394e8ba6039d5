/**
 * Torque resource lists (`-l nodes=2:ppn=4,mem=8gb,walltime=1:00:00`) and the honest raise a VM
 * job needs: enough cores and memory per node for its VMs plus what the host keeps for itself.
 */
import { mergeResourceLists, parseResourceList, torqueSize, torqueSizeMiB, type ResourceList } from '../../torque/qsub/index.js';

export { mergeResourceLists, parseResourceList, type ResourceList };

export interface ResourceNeed {
  /** Cores one node must give the job: vCPUs of its VMs, the host's cores, IOcm cores. */
  readonly ppn: number;
  /** MiB one node must give the job. */
  readonly memMiBPerNode: number;
}

export interface ResourceRaise {
  /** The keys to set on the command line (empty when the request already suffices). */
  readonly set: ResourceList;
  readonly notes: readonly string[];
  /** Nodes the job asks for (`nodes=2:ppn=4+gpu01` is 3). */
  readonly nodeCount: number;
}

/**
 * What to add to the job's resource list so that every node it gets holds its VMs, as the
 * prologue checks it (torque/hooks/nodes.ts): the node's slots (its PBS_NODEFILE lines, `ppn`),
 * and its share of every memory limit the job names: `mem` and `vmem` are for the whole job (a
 * node's share is the total over the nodes), `pmem` and `pvmem` per slot. `mem` is always set;
 * the others are raised only when given (each binds).
 */
export function computeRaise(current: ResourceList, need: ResourceNeed): ResourceRaise {
  const set: ResourceList = new Map();
  const notes: string[] = [];
  const { nodeCount, slots } = raiseNodes(current, need, set, notes);
  const total = need.memMiBPerNode * nodeCount;
  const perSlot = Math.ceil(need.memMiBPerNode / Math.max(1, slots));
  for (const [key, mib, always] of [['mem', total, true], ['vmem', total, false], ['pmem', perSlot, false], ['pvmem', perSlot, false]] as const) {
    const have = current.get(key);
    if (have === undefined && !always) continue;
    const haveMiB = have === undefined ? undefined : torqueSizeMiB(have);
    if (haveMiB !== undefined && haveMiB >= mib) continue;
    set.set(key, torqueSize(mib));
    notes.push(have === undefined ? `requested ${key}=${torqueSize(mib)}` : `raised ${key}=${have} to ${key}=${torqueSize(mib)}`);
  }
  return { set, notes, nodeCount };
}

/**
 * Raise `ppn` (or `procs`) so each node has the cores; returns the job's node count and the fewest
 * slots any of its nodes gets. `nodes=` is node specs joined by `+` (a count or a host name, then
 * `:ppn=`, `:gpus=`, properties), optionally followed by a `#` suffix (`#excl`) that is kept as is.
 */
function raiseNodes(current: ResourceList, need: ResourceNeed, set: ResourceList, notes: string[]): { nodeCount: number; slots: number } {
  const nodes = current.get('nodes');
  if (nodes === undefined || nodes === '') {
    const procs = current.get('procs');
    if (procs !== undefined && /^\d+$/.test(procs)) {
      if (Number(procs) < need.ppn) {
        set.set('procs', String(need.ppn));
        notes.push(`raised procs from ${procs} to ${need.ppn}`);
      }
      return { nodeCount: 1, slots: Math.max(Number(procs), need.ppn) };
    }
    set.set('nodes', `1:ppn=${need.ppn}`);
    notes.push(`requested nodes=1:ppn=${need.ppn}`);
    return { nodeCount: 1, slots: need.ppn };
  }
  const hash = nodes.indexOf('#');
  const [list, suffix] = hash < 0 ? [nodes, ''] : [nodes.slice(0, hash), nodes.slice(hash)];
  const specs = list.split('+').map((spec) => {
    const parts = spec.split(':');
    const head = parts[0] ?? '1';
    const count = /^\d+$/.test(head) ? Number(head) : 1;
    const ppnAt = parts.findIndex((p, idx) => idx > 0 && p.startsWith('ppn='));
    const ppn = ppnAt > 0 ? Number((parts[ppnAt] as string).slice(4)) || 0 : 0;
    if (ppn < need.ppn) {
      if (ppnAt > 0) parts[ppnAt] = `ppn=${need.ppn}`;
      else parts.splice(1, 0, `ppn=${need.ppn}`);
    }
    return { count, slots: Math.max(ppn, need.ppn), text: parts.join(':') };
  });
  const raised = `${specs.map((s) => s.text).join('+')}${suffix}`;
  if (raised !== nodes) {
    set.set('nodes', raised);
    notes.push(`raised nodes=${nodes} to nodes=${raised}`);
  }
  return { nodeCount: specs.reduce((sum, s) => sum + s.count, 0), slots: Math.min(...specs.map((s) => s.slots)) };
}

export function formatResourceList(list: ResourceList): string {
  return [...list].map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(',');
}
