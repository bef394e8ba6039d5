import { VtorqueError, type Fault } from '../core/errors.js';
import type { HostCapacity } from '../core/node/capacity.js';

/**
 * The job does not fit a node. Whose fault is given where it is thrown: a request larger than the
 * node could ever hold is the job's; a refusal because other jobs hold the resources now is the node's.
 */
export class CapacityError extends VtorqueError {
  constructor(message: string, fault: Fault) {
    super('CAPACITY', message, { fault });
  }
}

export interface PinRequest {
  readonly vms: number;
  readonly vcpus: number;
  /** true: choose cores; false: no pinning; rows: an explicit map (one row per VM). */
  readonly mode: boolean | readonly (readonly number[])[];
  readonly hostReserved: number;
  readonly busy: ReadonlySet<number>;
}

export interface PinResult {
  readonly cpus: readonly (readonly number[])[];
  readonly numaNodes: readonly (readonly number[])[];
}

/**
 * Host CPUs for each VM's vCPUs. The lowest `hostReserved` CPUs stay with the host; CPUs other
 * jobs pinned are skipped; a VM is kept inside one NUMA node whenever one has room.
 */
export function assignCpus(cap: HostCapacity, req: PinRequest, node: string): PinResult {
  const numaOf = new Map<number, number>();
  for (const [id, list] of Object.entries(cap.numa)) for (const cpu of list) numaOf.set(cpu, Number(id));
  const all = [...numaOf.keys()].sort((a, b) => a - b);
  const reserved = new Set(all.slice(0, req.hostReserved));
  const multiNuma = Object.keys(cap.numa).length > 1;
  const nodesOf = (cpus: readonly number[]) => (multiNuma ? [...new Set(cpus.map((c) => numaOf.get(c) as number))].sort((a, b) => a - b) : []);

  if (req.mode === false) return { cpus: [], numaNodes: [] };
  if (req.mode !== true) {
    const rows = req.mode.slice(0, req.vms);
    for (const cpu of rows.flat()) {
      if (!numaOf.has(cpu)) throw new CapacityError(`node ${node}: pinning file names CPU ${cpu}, which this node does not have (CPUs ${all[0]}-${all.at(-1)})`, 'job');
      if (reserved.has(cpu)) throw new CapacityError(`node ${node}: pinning file names CPU ${cpu}, kept for the host (HOST_OS_CORE_COUNT=${req.hostReserved})`, 'job');
      if (req.busy.has(cpu)) throw new CapacityError(`node ${node}: pinning file names CPU ${cpu}, already pinned by another job`, 'node');
    }
    return { cpus: rows, numaNodes: rows.map(nodesOf) };
  }

  const free = new Set(all.filter((c) => !reserved.has(c) && !req.busy.has(c)));
  const need = req.vms * req.vcpus;
  if (free.size < need) {
    // More than the node has without other jobs: the job's; only the others' pins in the way: the node's.
    const fault = need > all.length - reserved.size ? 'job' : 'node';
    throw new CapacityError(`node ${node}: ${req.vms} VM(s) x ${req.vcpus} vCPU(s) = ${need} pinned cores needed, ${free.size} free (${all.length} CPUs, ${reserved.size} kept for the host, ${req.busy.size} pinned by other jobs)`, fault);
  }
  const cpus: number[][] = [];
  for (let vm = 0; vm < req.vms; vm++) {
    const byNuma = Object.keys(cap.numa)
      .map(Number)
      .map((id) => ({ id, cpus: [...free].filter((c) => numaOf.get(c) === id).sort((a, b) => a - b) }))
      .filter((n) => n.cpus.length >= req.vcpus)
      .sort((a, b) => a.cpus.length - b.cpus.length || a.id - b.id); // best fit keeps big nodes whole
    const pick = (byNuma[0]?.cpus ?? [...free].sort((a, b) => a - b)).slice(0, req.vcpus);
    for (const c of pick) free.delete(c);
    cpus.push(pick);
  }
  return { cpus, numaNodes: cpus.map(nodesOf) };
}
