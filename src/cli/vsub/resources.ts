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

export function computeRaise(current: ResourceList, need: ResourceNeed): ResourceRaise {
  const set: ResourceList = new Map();
  const notes: string[] = [];
  let nodeCount = 1;
  const nodes = current.get('nodes');
  if (nodes === undefined || nodes === '') {
    const procs = current.get('procs');
    if (procs !== undefined && /^\d+$/.test(procs)) {
      if (Number(procs) < need.ppn) {
        set.set('procs', String(need.ppn));
        notes.push(`raised procs from ${procs} to ${need.ppn}`);
      }
    } else {
      set.set('nodes', `1:ppn=${need.ppn}`);
      notes.push(`requested nodes=1:ppn=${need.ppn}`);
    }
  } else {
    const specs = nodes.split('+').map((spec) => {
      const parts = spec.split(':');
      const head = parts[0] ?? '1';
      const count = /^\d+$/.test(head) ? Number(head) : 1;
      const ppnAt = parts.findIndex((p, idx) => idx > 0 && p.startsWith('ppn='));
      const ppn = ppnAt > 0 ? Number((parts[ppnAt] as string).slice(4)) || 0 : 0;
      if (ppn < need.ppn) {
        if (ppnAt > 0) parts[ppnAt] = `ppn=${need.ppn}`;
        else parts.splice(1, 0, `ppn=${need.ppn}`);
      }
      return { count, text: parts.join(':') };
    });
    nodeCount = specs.reduce((sum, s) => sum + s.count, 0);
    const raised = specs.map((s) => s.text).join('+');
    if (raised !== nodes) {
      set.set('nodes', raised);
      notes.push(`raised nodes=${nodes} to nodes=${raised}`);
    }
  }
  const memNeed = Math.ceil(need.memMiBPerNode * nodeCount);
  const mem = current.get('mem');
  const memHave = mem === undefined ? undefined : torqueSizeMiB(mem);
  if (memHave === undefined || memHave < memNeed) {
    set.set('mem', torqueSize(memNeed));
    notes.push(mem === undefined ? `requested mem=${torqueSize(memNeed)}` : `raised mem=${mem} to mem=${torqueSize(memNeed)}`);
  }
  return { set, notes, nodeCount };
}

export function formatResourceList(list: ResourceList): string {
  return [...list].map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(',');
}
