import type { SiteConfig } from '../../core/config/index.js';
import type { VmRequest } from '../../core/request/index.js';
import type { EngineLog } from '../libvirt/index.js';
import type { JobIdentity, JobPlan } from '../types.js';
import type { PhaseMark } from '../timeline.js';

/** What the head of a job works with: the site config, a log, the job's progress lines. */
export interface HeadContext {
  readonly config: SiteConfig;
  readonly log: EngineLog;
  /** Human progress lines (phase, node, VM, elapsed) for the job's own output. */
  readonly progress?: (line: string) => void;
}

export interface StartInput {
  readonly job: JobIdentity;
  readonly request: VmRequest;
  readonly baseImage: string;
  /**
   * Direct kernel boot files of the image, when the pool has them beside it (each node's prepare
   * decides each VM's command line from the image's: vtorque-seed or cloud-init).
   */
  readonly boot: { readonly kernel: string; readonly initrd: string; readonly cmdline: string } | null;
  readonly guestEnv: Readonly<Record<string, string>>;
  readonly uuid: () => string;
  /**
   * Date.now() by which the start has finished or failed (and torn down): the hard bound of every
   * wait. Each node lock and libvirt step also has TIMEOUT at most.
   */
  readonly deadlineAt: number;
  /** Aborts the waits for addresses and SSH (a cancelled job); the start then tears down. */
  readonly signal?: AbortSignal;
  /**
   * Called once the plan exists, with every node held and before anything is made for it: the
   * caller records what teardown will need (VM names, qemu uid). A throw ends the start.
   */
  readonly onPlanned?: (plan: JobPlan) => void;
  /** Filled as the start goes, and kept when it fails: its phases and when each VM got its address and took SSH. */
  readonly record?: StartRecord;
}

/**
 * What a start did when, for `vtorque status`: the job's phases (milliseconds from the start's
 * beginning) and, per VM, when its address was found and when it took SSH (null: not reached).
 */
export interface StartRecord {
  marks: readonly PhaseMark[];
  readonly vms: Map<string, { node: string; addressMs: number | null; readyMs: number | null }>;
}

