import type { Fault } from '../core/errors.js';
import type { HostVms } from '../core/contract/vm-layout.js';
import type { VmRequest } from '../core/request/index.js';
import type { JobIdentity, PhaseMark, VmRecord } from '../engine/index.js';

/** The job owner as the lifecycle needs them: identity for files and qemu, home for messages. */
export type JobOwner = JobIdentity['owner'] & { readonly home: string };

/** What the guest environment is made from: the VM node file's guest path, the VMs' vCPUs, the VMs on each host in rank order. */
export interface GuestEnvInput {
  readonly nodeFile: string;
  readonly slots: number;
  readonly hosts: readonly HostVms[];
}

/** What the scheduler allocated to the job on one node. */
export interface NodeAllocation {
  /** Short host name, as the node calls itself. */
  readonly name: string;
  /** Cores (slots) on this node. */
  readonly slots: number;
  /** Memory on this node and how it follows from the job's request; null: the job asked for none. */
  readonly memory: { readonly mib: number; readonly basis: string } | null;
}

/**
 * One job as every scheduler adapter hands it to the lifecycle: who, what it asked for, where
 * the scheduler put it (rank order: the first node runs the job script), and until when the
 * start may take. Nothing in it names a scheduler's files or variables except through the
 * adapter's own callbacks.
 */
export interface JobContext {
  readonly jobId: string;
  readonly owner: JobOwner;
  /** The request as decoded from the scheduler's copy of the job; the lifecycle re-validates it against policy. */
  readonly request: VmRequest;
  /** Where the request came from, for messages (the scheduler's copy of the job script). */
  readonly requestSource: string;
  /** The job script rank 0 runs in the guest. */
  readonly script: string;
  /** Per node, in rank order; the first is this node (the head of the job). */
  readonly allocation: readonly NodeAllocation[];
  /** Date.now() by which the start must have finished or given up (the scheduler kills the hook later). */
  readonly deadlineAt: number;
  /** The scheduler, for messages: its name and the command that submits a VM job honestly. */
  readonly scheduler: { readonly name: string; readonly submit: string };
  /**
   * The scheduler's variables for the guest, given the guest's path of the VM node file, the
   * job's slot count and its VMs per host node in rank order (the lifecycle adds vTorque's own
   * VTORQUE_NUM_HOSTS, VTORQUE_NUM_VMS and VTORQUE_VM_LAYOUT from those; the runner later uploads
   * the job's own environment over them).
   */
  readonly guestEnv: (guest: GuestEnvInput) => Record<string, string>;
  /** Whether a job id (or job dir name) is still the scheduler's on this node: what gc may not reap. */
  readonly isActive: (jobIdOrDirName: string) => boolean;
  /**
   * For a scheduler that tells no hook of a cancel (Slurm runs a Prolog to its end after scancel):
   * asked while the VMs boot, true once the job is no longer wanted, which aborts the start.
   */
  readonly cancelProbe?: () => Promise<boolean>;
  /** Milliseconds between two cancel probes (default 2000). */
  readonly cancelPollMs?: number;
}

/** How a start ended. A start that failed has undone what it made (what it could not stays recorded for the stop). */
export type StartOutcome =
  | { readonly kind: 'running'; readonly vms: readonly VmRecord[]; readonly timeline: readonly PhaseMark[] }
  | { readonly kind: 'failed'; readonly fault: Fault; readonly reason: string };

/** How a stop on this node ended. */
export type StopOutcome =
  | { readonly kind: 'not-a-vm-job' }
  | {
      readonly kind: 'stopped';
      /** The job owner's uid from root's record, null when the record was unreadable or absent. */
      readonly ownerUid: number | null;
      readonly domains: readonly string[];
      /** What is left for a later stop or gc (empty: nothing). */
      readonly problems: readonly string[];
      /** The stop itself failed (libvirt unreachable, ...): a later stop or gc retries. */
      readonly error: string | null;
    };
