import type { SiteConfig } from '../../core/config/index.js';
import type { Renderer } from '../../core/render/index.js';
import type { UserDataBase } from '../../guest/index.js';
import type { QemuIdentity } from '../qemu-identity.js';
import type { JobPlan, VmPlan } from '../types.js';

export type ImageFormat = 'qcow2' | 'raw';

/** Absolute paths of the programs prepare runs; null when not installed. Tests inject their own. */
export interface PrepareTools {
  readonly qemuImg: string | null;
  readonly sshKeygen: string | null;
  readonly genisoimage: string | null;
  readonly cloudLocalds: string | null;
  readonly mount: string | null;
  readonly umount: string | null;
  readonly cp: string | null;
}

export type LogFn = (msg: string, fields?: Record<string, unknown>) => void;

export interface PrepareContext {
  readonly config: SiteConfig;
  /** Parsed templates-vm/user-data.base.yaml (loadUserDataBase). */
  readonly userDataBase: UserDataBase;
  /** PBS_* known at prologue time: the initial guest env file. */
  readonly guestEnv: Readonly<Record<string, string>>;
  /** Renderer over the root-owned `templates/` (buildJobEnv needs it). */
  readonly renderTemplates: Renderer;
  readonly log: LogFn;
  /** Overrides of the programs found on PATH and in sbin. */
  readonly tools?: Partial<PrepareTools>;
  /**
   * QEMU_USER job-uid: the host's kvm group id, qemu's gid (null or absent: no kvm group, the gid
   * is the uid's number). Resolved once by the caller; toDomainSpec must get the same value.
   */
  readonly kvmGid?: number | null;
  /**
   * The image's direct kernel boot, when it has one: SEED_CAPABILITY in its command line says the
   * image has vtorque-seed, so a VM vtorque-seed can start gets the fast seed.
   */
  readonly boot?: { readonly cmdline: string } | null;
  /**
   * The job's private user key (OpenSSH format) when another node made it: written and authorized
   * instead of a new one, so every VM of the job takes the same key. Absent: one is generated.
   */
  readonly userKey?: Buffer;
}

export interface PersistentDisk {
  readonly path: string;
  readonly format: ImageFormat;
}

export interface PreparedVm {
  readonly plan: VmPlan;
  /** `ssh-ed25519 AAAA…` (type and key, no comment): what the readiness code matches. */
  readonly hostKeyPublic: string;
  /** The root disk to attach: plan.overlay, or the overlay inside the job's tmpfs (fs_type=ramdisk). */
  readonly disk: string;
  /** Rank 0's validated `-vm disk=` (attach with this explicit format, never probed); else null. */
  readonly persistentDisk: PersistentDisk | null;
  /** The kernel command line this VM boots with (direct kernel boot), or null (boot from the disk). */
  readonly cmdline: string | null;
  /** vtorque-seed starts it (the seed's vtorque/ part, cloud-init off); else cloud-init. */
  readonly fastSeed: boolean;
}

export interface PreparedJob {
  readonly plan: JobPlan;
  /** Per-job private key, owned by the job owner, 0600. */
  readonly userKeyPath: string;
  readonly userKeyPublic: string;
  /** That private key's content, read while it was root's (what the head logs in with). */
  readonly userKey: Buffer;
  /** `<vm name> ssh-ed25519 AAAA…` per VM, 0644. */
  readonly knownHostsPath: string;
  readonly vms: readonly PreparedVm[];
  /** The job's tmpfs mount point, or null for fs_type=sharedfs. */
  readonly ramdisk: string | null;
  readonly baseFormat: ImageFormat;
  /** The overlays' backing file (the pool image, or its copy in the tmpfs), named in the domain XML. */
  readonly backing: string;
  /**
   * Who the overlays (0600) and seeds (0400) belong to: qemu's identity, which the domains' DAC
   * label must name (QEMU_USER owner or job-uid); null with QEMU_USER libvirt (root's, relabelled).
   */
  readonly qemu: QemuIdentity | null;
}
