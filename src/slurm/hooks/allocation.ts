import { VtorqueError } from '../../core/errors.js';
import type { NodeAllocation } from '../../lifecycle/index.js';
import { expandCpusPerNode } from './context.js';
import type { SlurmJob } from './slurm-client.js';

/**
 * The job's allocation in rank order, from what slurmd and slurmctld say (never the job script):
 * nodes from SLURM_NODELIST, CPUs per node from SLURM_JOB_CPUS_PER_NODE (both slurmd's, in the
 * same order), memory per node from the controller's job resources. The batch host, which runs
 * the script, is rank 0; the others follow in node-list order.
 */
export function slurmAllocation(nodes: readonly string[], cpusPerNode: string, job: SlurmJob): NodeAllocation[] {
  const cpus = expandCpusPerNode(cpusPerNode);
  if (cpus === null || cpus.length !== nodes.length) {
    throw new VtorqueError('USAGE', `slurmd gave SLURM_JOB_CPUS_PER_NODE=${JSON.stringify(cpusPerNode)} for ${nodes.length} node(s) (${nodes.join(',')}): cannot tell the job's CPUs per node`, { fault: 'node' });
  }
  const shares = nodes.map((name, i): NodeAllocation => {
    const mib = job.memoryMiB.get(name);
    return { name, slots: cpus[i] as number, memory: mib === undefined ? null : { mib, basis: `Slurm allocated ${mib} MiB on ${name}` } };
  });
  const head = shares.findIndex((n) => n.name === job.batchHost);
  if (head < 0) throw new VtorqueError('USAGE', `the job's batch host ${JSON.stringify(job.batchHost)} is not in its node list ${nodes.join(',')}`, { fault: 'node' });
  return [shares[head] as NodeAllocation, ...shares.filter((_, i) => i !== head)];
}
