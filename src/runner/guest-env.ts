import { hostsOfVms, vmLayoutEnv } from '../core/contract/vm-layout.js';

/** Names buildJobEnv accepts; Torque's own PBS_* names all match. */
const PBS_NAME = /^PBS_[A-Z0-9_]*$/;

export interface GuestEnv {
  /** What goes into the guest's job.env. */
  readonly vars: Readonly<Record<string, string>>;
  /** PBS_* names from the job's environment that are no shell variable names (left out). */
  readonly skipped: readonly string[];
}

/**
 * The guest environment of a job, from the job's own (Torque) environment: every PBS_* variable as
 * it is, except that PBS_NODEFILE, and PBS_VMNODEFILE beside it, name the VM node file in the guest,
 * and PBS_NP counts the VMs' vCPUs (the slots of that node file), not the host cores Torque gave;
 * with the job's VMs, also their layout over the host nodes (VTORQUE_NUM_HOSTS, VTORQUE_NUM_VMS,
 * VTORQUE_VM_LAYOUT), as the seed's job environment had it.
 */
export function jobGuestEnv(env: NodeJS.ProcessEnv, guestNodeFile: string, vms?: readonly { readonly vcpus: number; readonly node: string; readonly rank: number }[]): GuestEnv {
  const vars: Record<string, string> = {};
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('PBS_') || value === undefined) continue;
    if (PBS_NAME.test(name)) vars[name] = value;
    else skipped.push(name);
  }
  vars.PBS_NODEFILE = guestNodeFile;
  vars.PBS_VMNODEFILE = guestNodeFile;
  if (vms !== undefined) Object.assign(vars, { PBS_NP: String(vms.reduce((n, v) => n + v.vcpus, 0)), ...vmLayoutEnv(hostsOfVms(vms)) });
  return { vars, skipped: skipped.sort() };
}
