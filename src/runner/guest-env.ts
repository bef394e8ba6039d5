import { hostsOfVms, vmLayoutEnv } from '../core/contract/vm-layout.js';
import type { JobScheduler } from './scheduler-env.js';

/** Names buildJobEnv accepts; Torque's own PBS_* names all match. */
const PBS_NAME = /^PBS_[A-Z0-9_]*$/;
/** The same for Slurm's; all of its own match. */
const SLURM_NAME = /^SLURM_[A-Z0-9_]*$/;

/**
 * Slurm variables of the batch step that describe the host's step or daemons and are false inside
 * the guest (no slurmd, no step, another machine); `*` ends a prefix.
 */
export const SLURM_HOST_ONLY: readonly string[] = [
  'SLURM_TASK_PID', // the batch step's process on the host
  'SLURM_STEP_*', // the host step: its id, nodes, tasks, launcher
  'SLURM_STEPID', // the same, the older name
  'SLURM_SRUN_COMM_*', // where the host's srun listens
  'SLURM_LAUNCH_NODE_IPADDR', // the host srun ran on
  'SLURM_CONF', // slurm.conf of the host; the guest has no Slurm
  'SLURM_GTIDS', // the host step's global task ids
  'SLURM_TOPOLOGY_ADDR*', // the host's place in the network topology
  'SLURM_CPU_BIND*', // the host CPUs the step is bound to
  'SLURM_WORKING_CLUSTER', // the slurmctld address srun would call
  'SLURM_NODE_ALIASES', // addresses of the host nodes (cloud nodes)
  'SLURMD_NODENAME', // the host's slurmd (not SLURM_*: listed so a wider prefix keeps it out)
];

const hostOnly = (name: string): boolean => SLURM_HOST_ONLY.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p));

/** What the guest environment needs of each VM record. */
export interface GuestVm {
  readonly ip: string;
  readonly vcpus: number;
  readonly node: string;
  readonly rank: number;
}

export interface GuestEnv {
  /** What goes into the guest's job.env. */
  readonly vars: Readonly<Record<string, string>>;
  /** The scheduler's names (PBS_*, SLURM_*) from the job's environment that are no shell variable names (left out). */
  readonly skipped: readonly string[];
}

/** The scheduler's variables of the job env, taken as they are, and the names no shell can hold. */
function schedulerVars(env: NodeJS.ProcessEnv, prefix: string, shellName: RegExp, drop: (name: string) => boolean): { vars: Record<string, string>; skipped: string[] } {
  const vars: Record<string, string> = {};
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(prefix) || value === undefined || drop(name)) continue;
    if (shellName.test(name)) vars[name] = value;
    else skipped.push(name);
  }
  return { vars, skipped };
}

/**
 * The guest environment of a job, from the job's own (Torque) environment: every PBS_* variable as
 * it is, except that PBS_NODEFILE, and PBS_VMNODEFILE beside it, name the VM node file in the guest,
 * and PBS_NP counts the VMs' vCPUs (the slots of that node file), not the host cores Torque gave;
 * with the job's VMs, also their layout over the host nodes (VTORQUE_NUM_HOSTS, VTORQUE_NUM_VMS,
 * VTORQUE_VM_LAYOUT), as the seed's job environment had it.
 */
export function jobGuestEnv(env: NodeJS.ProcessEnv, guestNodeFile: string, vms?: readonly { readonly vcpus: number; readonly node: string; readonly rank: number }[]): GuestEnv {
  const { vars, skipped } = schedulerVars(env, 'PBS_', PBS_NAME, () => false);
  vars.PBS_NODEFILE = guestNodeFile;
  vars.PBS_VMNODEFILE = guestNodeFile;
  if (vms !== undefined) Object.assign(vars, { PBS_NP: String(vms.reduce((n, v) => n + v.vcpus, 0)), ...vmLayoutEnv(hostsOfVms(vms)) });
  return { vars, skipped: skipped.sort() };
}

/**
 * The guest environment of a Slurm job: every SLURM_* variable of the job env but the host-only
 * ones (SLURM_HOST_ONLY), then what the VMs make true in the guest: the node list is the VMs, by
 * the addresses the VM node file lists (rank order, each once), one node per VM, rank 0's vCPUs on
 * this node, SLURM_HOSTFILE and VTORQUE_NODEFILE the guest node file, and the VTORQUE_* layout.
 * What the host allocation counts otherwise (SLURM_JOB_CPUS_PER_NODE, SLURM_NTASKS, …) stays Slurm's.
 */
export function slurmGuestEnv(env: NodeJS.ProcessEnv, guestNodeFile: string, vms: readonly GuestVm[]): GuestEnv {
  const { vars, skipped } = schedulerVars(env, 'SLURM_', SLURM_NAME, hostOnly);
  const ranked = [...vms].sort((a, b) => a.rank - b.rank);
  const nodeList = ranked.map((v) => v.ip).join(',');
  const nodes = String(ranked.length);
  Object.assign(vars, {
    SLURM_JOB_NODELIST: nodeList,
    SLURM_NODELIST: nodeList,
    SLURM_JOB_NUM_NODES: nodes,
    SLURM_NNODES: nodes,
    ...(ranked[0] === undefined ? {} : { SLURM_CPUS_ON_NODE: String(ranked[0].vcpus) }),
    SLURM_HOSTFILE: guestNodeFile,
    VTORQUE_NODEFILE: guestNodeFile,
    ...vmLayoutEnv(hostsOfVms(ranked)),
  });
  return { vars, skipped: skipped.sort() };
}

/** The guest environment for the scheduler that runs the job. */
export function schedulerGuestEnv(scheduler: Pick<JobScheduler, 'kind'>, env: NodeJS.ProcessEnv, guestNodeFile: string, vms: readonly GuestVm[]): GuestEnv {
  return scheduler.kind === 'slurm' ? slurmGuestEnv(env, guestNodeFile, vms) : jobGuestEnv(env, guestNodeFile, vms);
}
