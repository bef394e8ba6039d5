import type { SiteConfig } from '../core/config/index.js';
import { VtorqueError } from '../core/errors.js';
import type { JobPlan } from './types.js';

/** The uid:gid a job's qemu runs as when it is not libvirt's own user. */
export interface QemuIdentity {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Who a job's qemu runs as (its static DAC label), which is also who must own the overlay and the
 * seed, since libvirt then chowns nothing. Pure; `kvmGid` is the host's kvm group (or null when it
 * has none), resolved once by the caller.
 *
 * - libvirt: null, qemu.conf's user; every file stays root's and libvirt relabels.
 * - owner: the job owner's uid and (job) gid.
 * - job-uid: the plan's uid from QEMU_UIDS; gid the kvm group's (so /dev/kvm 0660 root:kvm
 *   works), else the same number as the uid (a group nobody has, like the uid).
 */
export function qemuIdentity(plan: Pick<JobPlan, 'job' | 'qemuUid'>, config: Pick<SiteConfig, 'QEMU_USER'>, kvmGid: number | null): QemuIdentity | null {
  switch (config.QEMU_USER) {
    case 'libvirt':
      return null;
    case 'owner':
      return { uid: plan.job.owner.uid, gid: plan.job.owner.gid };
    case 'job-uid':
      if (plan.qemuUid === null) throw new VtorqueError('INTERNAL', 'QEMU_USER is job-uid but the job plan has no qemu uid', { fault: 'node' });
      return { uid: plan.qemuUid, gid: kvmGid ?? plan.qemuUid };
  }
}

/** How messages name who qemu runs as, per QEMU_USER mode that has a non-root identity. */
export function qemuUserText(mode: SiteConfig['QEMU_USER']): { readonly runsAs: string; readonly whose: string } {
  return mode === 'job-uid'
    ? { runsAs: 'qemu runs as a per-job uid from QEMU_UIDS (QEMU_USER: job-uid)', whose: 'the job\'s qemu' }
    : { runsAs: 'qemu runs as the job owner (QEMU_USER: owner)', whose: 'the owner\'s qemu' };
}
