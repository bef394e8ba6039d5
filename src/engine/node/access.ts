import type { VmRecord } from '../../core/contract/job-state.v1.js';
import type { DomainType } from '../../core/libvirt/index.js';
import type { Candidate } from '../discover/index.js';
import type { DomainRunState } from '../libvirt/index.js';
import type { JobPlan, NodeState } from '../types.js';

/**
 * What the head of a job asks of one of its nodes. Everything that touches a node (its lock,
 * libvirt, its spool, its neighbour table, its DHCP leases, its console logs) goes through here,
 * so the head (plan, fan-out, readiness, node file) never knows whether the node is this host
 * (localNode) or another one. Plain data crosses it, so a remote implementation can carry it.
 */
export interface NodeAccess {
  readonly name: string;
  /** What the node's libvirt runs ('test': the test driver, no guest network to wait for). */
  readonly domainType: DomainType;
  /**
   * Take the node's lock and observe the node under it: no other job plans against the same free
   * CPUs, MACs and qemu uids until `release()`. Bounded by `timeoutMs`.
   */
  reserve(opts: { readonly timeoutMs: number; readonly onWait?: () => void }): Promise<NodeReservation>;
  /** The node's neighbour table (/proc/net/arp text), read once per discovery round. */
  readNeighbours(): Promise<string>;
  /** DHCP lease candidates of a MAC on the node's VM network; null: the node has no VM network to ask. */
  readonly leases: ((mac: string) => Promise<readonly Candidate[]>) | null;
  /** Bytes in the console log of a VM this node prepared (a sign of life), or null when there is none. */
  consoleSize(vm: string): number | null;
  /**
   * CPU time (ms) each of `vms` has used in its qemu, in the order asked: a qemu that keeps
   * computing is booting even when its console is silent (a sign of life). null for a VM not
   * running or not prepared here (never looked at). Bounded; the head asks in the background.
   */
  cpuTimes(vms: readonly string[]): Promise<readonly (number | null)[]>;
  /**
   * Of `vms` (VMs this node prepared for the start under way; any other name is never touched),
   * those whose domain is not running: one shut off is started again once per start, one that
   * stops again or is gone is given up. A VM neither running nor shut off (paused, being shut
   * down) is left as it is. Bounded; asked by the head during its waits for addresses and SSH.
   */
  reviveVms(vms: readonly string[]): Promise<readonly RevivedVm[]>;
  /** Record the job's VMs on this node (what the runner and the stop read). */
  writeVmRecords(jobId: string, vms: readonly VmRecord[]): Promise<void>;
  /**
   * Tear down every VM of the job on this node and remove its files: from what the node's libvirt
   * and spool hold, not from a plan, so it is safe after a partial start and idempotent.
   */
  stopVms(jobId: string, opts: { readonly keepLogs: boolean; readonly ramdisk?: string | undefined }): Promise<NodeStopResult>;
}

/** A VM found not running by `reviveVms`, and what the node did about it. */
export interface RevivedVm {
  readonly vm: string;
  /** Its domain's state when asked ('shutoff' or 'missing'). */
  readonly state: DomainRunState;
  readonly action: 'started-again' | 'given-up';
  /** Where the node's libvirt keeps the domain's qemu log (why qemu stopped), or null: unknown. */
  readonly qemuLog: string | null;
  /** Why starting it again failed (given up at once), one line. */
  readonly error?: string | undefined;
}

export interface NodeStopResult {
  readonly domains: readonly string[];
  readonly files: readonly string[];
  readonly arp: readonly string[];
}

/** A node held for one job's start, from its observation until its VMs are defined and started. */
export interface NodeReservation {
  /** The node as observed under its lock. */
  readonly state: NodeState;
  /** How long taking the lock took. */
  readonly waitedMs: number;
  /**
   * Make what this node's VMs of the plan need (job directory, keys, overlays, seeds): the plan's
   * VMs on other nodes are not this node's business. On failure nothing of it is left.
   */
  prepare(plan: JobPlan, input: NodePrepareInput): Promise<NodePrepared>;
  /**
   * Define and start the prepared VMs (all of them or none: a failure removes what it started),
   * after removing their MACs' neighbour entries from before the start.
   */
  boot(opts: { readonly timeoutMs: number }): Promise<NodeBooted>;
  /** Let the next job plan on the node. Idempotent. */
  release(): Promise<void>;
}

export interface NodePrepareInput {
  readonly guestEnv: Readonly<Record<string, string>>;
  /** Direct kernel boot files of the image (the image's own command line), or null: boot from the disk. */
  readonly boot: { readonly kernel: string; readonly initrd: string; readonly cmdline: string } | null;
  /**
   * The job's private user key (OpenSSH format), made by the node of rank 0: this node writes it
   * and its VMs authorize it, so one key reaches every VM of the job. Absent: the node makes it.
   */
  readonly jobKey?: Buffer;
}

/** One prepared VM, as the head needs it for readiness and the records. */
export interface PreparedVmFacts {
  readonly name: string;
  readonly hostKeyPublic: string;
  /** vtorque-seed prepares it (the login is enough); false: cloud-init (ready once it is done). */
  readonly fastSeed: boolean;
  readonly persistentDisk: boolean;
}

export interface NodePrepared {
  readonly vms: readonly PreparedVmFacts[];
  /** The job's private key as the node holds it for the owner (made or given): the head logs into the guests with it. */
  readonly userKey: Buffer;
  /** qemu's identity on the node (for the log), or null: libvirt's own. */
  readonly qemu: { readonly uid: number; readonly gid: number } | null;
}

export interface NodeBooted {
  /** Date.now() just before the domains were started: what was learned before belongs to another boot. */
  readonly bootSince: number;
  /** `mac ip` neighbour entries from before the start that could not be removed (ignored until seen gone). */
  readonly stale: ReadonlySet<string>;
}
