import { NODE_FILE_DIR, VM_SPOOL_DIR } from '../core/contract/guest-layout.v1.js';
import { VtorqueError } from '../core/errors.js';

/** What the runner reads and writes inside the job's VMs (rank 0 for all but `envFile`). */
export interface GuestPaths {
  /** The job user's directory in the guest (`/var/spool/torque/vm`). */
  readonly vmDir: string;
  /** The job's PBS environment, sourced by login shells and by every command the runner starts. */
  readonly envFile: string;
  readonly jobScript: string;
  readonly vmPrologue: string;
  readonly vmEpilogue: string;
  /** The VM node file the prologue wrote (`/var/spool/torque/aux/<jobDir>`). */
  readonly nodeFile: string;
}

/**
 * Guest paths for a job. `guestRoot` replaces `/var/spool/torque` and exists only so tests can run
 * against an sshd on the test machine without touching its real Torque spool; '' = the real paths.
 */
export function guestPaths(guestRoot: string, guestJobDir: string): GuestPaths {
  if (guestRoot !== '' && !/^\/[^\0\r\n]*[^/]$/.test(guestRoot)) {
    throw new VtorqueError('USAGE', `guestRoot ${JSON.stringify(guestRoot)}: expected '' or an absolute path not ending in /`, { fault: 'job' });
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(guestJobDir)) {
    throw new VtorqueError('INTERNAL', `guest job dir ${JSON.stringify(guestJobDir)}: expected one safe path element`, { fault: 'node' });
  }
  const vmDir = guestRoot === '' ? VM_SPOOL_DIR : `${guestRoot}/vm`;
  const auxDir = guestRoot === '' ? NODE_FILE_DIR : `${guestRoot}/aux`;
  return {
    vmDir,
    envFile: `${vmDir}/job.env`,
    jobScript: `${vmDir}/job-script`,
    vmPrologue: `${vmDir}/vm-prologue`,
    vmEpilogue: `${vmDir}/vm-epilogue`,
    nodeFile: `${auxDir}/${guestJobDir}`,
  };
}
