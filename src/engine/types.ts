import type { SiteConfig } from '../core/config/index.js';
import type { HostCapacity } from '../core/node/capacity.js';
import type { VmRequest } from '../core/request/index.js';
import type { DomainType } from '../core/libvirt/index.js';

/** The job the engine works for; no Torque knowledge beyond an id and an owner. */
export interface JobIdentity {
  readonly jobId: string;
  readonly owner: { readonly user: string; readonly uid: number; readonly gid: number; readonly group: string };
}

/** One node of the job as the engine sees it: its name, its capacity, what is already taken. */
export interface NodeState {
  readonly name: string;
  readonly capacity: HostCapacity;
  /** MACs of every domain libvirt knows on this node (any job): a new MAC must differ. */
  readonly usedMacs: ReadonlySet<string>;
  /** Host CPUs already pinned by other jobs' domains on this node. */
  readonly busyCpus: ReadonlySet<number>;
  /**
   * uids that domains on this node (defined or running, any job) run qemu as, from their static
   * DAC labels: a QEMU_USER job-uid job must take another.
   */
  readonly busyQemuUids: ReadonlySet<number>;
  /** MiB that running domains on this node (any job) may take: the new job's VMs get what is left. */
  readonly heldMemMiB: number;
}

export type { DomainType };

export interface VmPlan {
  readonly name: string;
  readonly uuid: string;
  readonly node: string;
  /** 1-based index of the VM on its node. */
  readonly index: number;
  /** 0-based rank over the whole job (rank 0 runs the job script). */
  readonly rank: number;
  readonly hostname: string;
  readonly mac: string;
  readonly vcpus: number;
  readonly memoryMiB: number;
  /** vcpu → host CPU; empty when pinning is off. */
  readonly pins: readonly { readonly vcpu: number; readonly cpu: number }[];
  /** NUMA nodes the pinned CPUs belong to, when the node has several. */
  readonly numaNodes: readonly number[];
  /** Root-owned per-VM directory on node-local disk (overlay, seed, console log). */
  readonly dir: string;
  readonly overlay: string;
  readonly seedIso: string;
  readonly consoleLog: string;
  readonly persistentDisk: string | null;
}

export interface JobPlan {
  readonly job: JobIdentity;
  readonly jobDir: string;
  /** Absolute path of the base image in the pool (read-only backing file). */
  readonly baseImage: string;
  readonly request: VmRequest;
  readonly vms: readonly VmPlan[];
  /**
   * QEMU_USER job-uid: the uid from QEMU_UIDS every VM of the job runs qemu as (the lowest that no
   * domain on any of the job's nodes holds); null with QEMU_USER libvirt or owner.
   */
  readonly qemuUid: number | null;
}

export interface PlanInput {
  readonly job: JobIdentity;
  readonly request: VmRequest;
  readonly config: SiteConfig;
  readonly nodes: readonly NodeState[];
  readonly baseImage: string;
  /** Randomness comes in from outside so the plan stays a pure function (tests pass a counter). */
  readonly uuid: () => string;
}
