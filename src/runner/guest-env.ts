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
 * and PBS_NP counts the VMs' vCPUs (the slots of that node file), not the host cores Torque gave.
 */
export function jobGuestEnv(env: NodeJS.ProcessEnv, guestNodeFile: string, vmSlots?: number): GuestEnv {
  const vars: Record<string, string> = {};
  const skipped: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('PBS_') || value === undefined) continue;
    if (PBS_NAME.test(name)) vars[name] = value;
    else skipped.push(name);
  }
  vars.PBS_NODEFILE = guestNodeFile;
  vars.PBS_VMNODEFILE = guestNodeFile;
  if (vmSlots !== undefined) vars.PBS_NP = String(vmSlots);
  return { vars, skipped: skipped.sort() };
}
