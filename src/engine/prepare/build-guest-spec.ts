import { jobDirName } from '../../core/contract/job-state.v1.js';
import { type SiteConfig, VIRTIOFS_REFUSED } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import type { GuestMount, GuestSpec } from '../../guest/index.js';
import type { JobPlan, VmPlan } from '../types.js';

export interface VirtiofsShare {
  /** Host directory (VM_VIRTIOFS_*). */
  readonly dir: string;
  /** Mount tag; the domain XML must use the same. */
  readonly tag: string;
  readonly target: string;
}

const SHARES = [
  { nfs: 'VM_NFS_HOME', virtiofs: 'VM_VIRTIOFS_HOME', target: '/home' },
  { nfs: 'VM_NFS_WS', virtiofs: 'VM_VIRTIOFS_WS', target: '/workspace' },
  { nfs: 'VM_NFS_OPT', virtiofs: 'VM_VIRTIOFS_OPT', target: '/opt-hpc' },
] as const;

/**
 * The host directories shared with virtiofs: none, ever. libvirt 9 would serve them through a
 * root virtiofsd in passthrough mode (no id mapping before libvirt 10, and qemu 7.2's virtiofsd
 * cannot run unprivileged), so root in any guest would act as host root there. The config rules
 * refuse VM_SHARE_TYPE virtiofs and VM_VIRTIOFS_HOME/WS/OPT; a config that did not pass them (made
 * in code) is refused here, before any seed or domain names a directory: a node fault.
 */
export function virtiofsShares(c: SiteConfig): VirtiofsShare[] {
  const keys = SHARES.filter((s) => c[s.virtiofs] !== '').map((s) => s.virtiofs);
  if (c.VM_SHARE_TYPE !== 'virtiofs' && keys.length === 0) return [];
  const what = keys.length > 0 ? keys.join(', ') : 'VM_SHARE_TYPE virtiofs';
  throw new VtorqueError('CONFIG_INVALID', `${what}: ${VIRTIOFS_REFUSED}; share home, workspace and opt with VM_NFS_HOME/WS/OPT (VM_SHARE_TYPE: nfs)`, { fault: 'node' });
}

/** home, workspace and opt: guest-side NFS mounts, each only when configured (virtiofs is refused). */
export function guestMounts(c: SiteConfig): GuestMount[] {
  virtiofsShares(c);
  return SHARES.filter((s) => c[s.nfs] !== '').map((s) => ({ kind: 'nfs', source: c[s.nfs], target: s.target }));
}

export interface GuestSpecInput {
  readonly plan: JobPlan;
  readonly vm: VmPlan;
  readonly config: SiteConfig;
  readonly userKeyPublic: string;
  readonly hostKey: { readonly privateKey: string; readonly publicKey: string };
  readonly envFile: string;
  /** 8 random hex digits (from the caller, so this stays pure). */
  readonly instanceSuffix: string;
}

/**
 * What crosses into one VM. The node file stays empty: the guests' IPs are unknown until they
 * boot, so the hook writes it after readiness.
 */
export function buildGuestSpec(input: GuestSpecInput): GuestSpec {
  const { plan, vm, config: c } = input;
  const owner = plan.job.owner;
  const debianLike = plan.request.distro === 'debian' || plan.request.distro === 'ubuntu';
  return {
    hostname: vm.hostname,
    instanceId: `${vm.name.slice(0, 119)}-${input.instanceSuffix}`,
    user: { name: owner.user, uid: owner.uid, gid: owner.gid, group: owner.group, sshAuthorizedKey: input.userKeyPublic },
    hostKeys: { ed25519: { private: input.hostKey.privateKey, public: input.hostKey.publicKey } },
    mounts: guestMounts(c),
    dns: c.NAME_SERVER === '' ? null : { nameserver: c.NAME_SERVER, domain: c.DOMAIN, search: c.SEARCH_DOMAIN },
    ntp: [c.NTP_SERVER_1, c.NTP_SERVER_2].filter((s) => s !== ''),
    packages: debianLike ? c.SW_PACKAGES_DEBIAN : c.SW_PACKAGES_REDHAT,
    envFile: input.envFile,
    nodeFile: '',
    // Path-safe (array ids carry [ ]): the node file's name in the guest, as the prologue announces it.
    jobId: jobDirName(plan.job.jobId),
    userMetadata: plan.request.metadata?.data ?? null,
  };
}
