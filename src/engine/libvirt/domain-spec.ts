import { dirname } from 'node:path';
import type { SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import type { DomainNet, DomainSpec } from '../../core/libvirt/index.js';
import { inImagePool, ramdiskPath } from '../prepare/index.js';
import { bootFilePaths } from '../../core/pool/images.js';
import type { QemuIdentity } from '../qemu-identity.js';
import type { DomainType, JobPlan, VmPlan } from '../types.js';

export interface DomainSpecOptions {
  readonly type: DomainType;
  readonly config: SiteConfig;
  /** The VM's root disk (its qcow2 overlay, or a ramdisk copy). */
  readonly disk: string;
  /**
   * The overlay's backing file, named in the XML so libvirt never reads it from the overlay's
   * header: the job's pool image, or a copy prepare made in the job's own directory or tmpfs.
   */
  readonly backing: { readonly file: string; readonly format: 'qcow2' | 'raw' };
  readonly seedIso: string | null;
  /** Direct kernel boot: only `<pool image>.vmlinuz` / `.initrd` of the job's own pool image (bootFilesFor). */
  readonly boot: { readonly kernel: string; readonly initrd: string; readonly cmdline: string } | null;
  readonly persistentDisk: { readonly path: string; readonly format: 'qcow2' | 'raw' } | null;
  /** Overrides the network taken from the config (VM_NETWORK, else VM_BRIDGE). */
  readonly net?: DomainNet;
  /** Must be empty: virtiofs is refused (build-guest-spec.ts virtiofsShares, the config rules). */
  readonly virtiofs?: readonly { readonly dir: string; readonly tag: string }[];
  /** Who qemu runs as (prepare's `qemu`: the identity it gave the overlay and the seed), or null. */
  readonly qemu: QemuIdentity | null;
}

/**
 * The DomainSpec for one planned VM: pure translation, checked later by buildDomainXml. It also
 * refuses (a node fault: the engine's own invariant) any file libvirt (root) would open or
 * relabel that is not root's to name: boot files other than the job's pool image's, a backing
 * file other than the pool image or a copy in the job's own directories (a user's image is used
 * only through its copy), and any virtiofs share.
 */
export function toDomainSpec(vm: VmPlan, job: JobPlan, opts: DomainSpecOptions): DomainSpec {
  const { config: c, type } = opts;
  checkRootFiles(job, opts);
  const pinned = vm.pins.map((p) => p.cpu);
  // Every backing chain is spelled out (the overlay's base, none for the persistent disk): libvirtd
  // (root) would otherwise follow whatever file the image header names, and a header can be rewritten.
  const disks: DomainSpec['disks'][number][] = [{ file: opts.disk, format: 'qcow2', target: 'vda', readonly: false, backing: opts.backing }];
  if (opts.persistentDisk) disks.push({ file: opts.persistentDisk.path, format: opts.persistentDisk.format, target: 'vdb', readonly: false, backing: null });
  // The NoCloud seed as a read-only virtio disk, not a SCSI cdrom: virtio_blk is in the initramfs,
  // so its `cidata` label is there at once (a cdrom waits for virtio_scsi, sr_mod and udev), and
  // the VM needs no SCSI controller. cloud-init finds the label on any block device.
  if (opts.seedIso !== null) disks.push({ file: opts.seedIso, format: 'raw', target: `vd${String.fromCharCode(97 + disks.length)}`, readonly: true, backing: null });
  return {
    name: vm.name,
    uuid: vm.uuid,
    type,
    memoryMiB: vm.memoryMiB,
    vcpus: vm.vcpus,
    vcpuPins: vm.pins.map((p) => ({ vcpu: p.vcpu, cpuset: String(p.cpu) })),
    // The emulator threads (and under TCG the I/O thread) stay on the VM's own CPUs.
    ...(pinned.length > 0 ? { emulatorCpuset: toCpuset(pinned) } : {}),
    ...(vm.numaNodes.length > 0 ? { numaNodeset: toCpuset(vm.numaNodes) } : {}),
    ...(type === 'kvm' ? { cpuMode: 'host-passthrough' as const } : {}),
    machine: c.MACHINE_TYPE,
    arch: job.request.arch,
    boot: opts.boot,
    disks,
    net: opts.net ?? netFromConfig(c, vm.mac),
    consoleLog: vm.consoleLog,
    tcgTbCacheMiB: type === 'qemu' ? c.TCG_TB_CACHE_MB : 0,
    virtiofs: opts.virtiofs ?? [],
    owner: { job: job.job.jobId, user: job.job.owner.user, node: vm.node, index: vm.index },
    // QEMU_USER owner / job-uid: qemu runs as that identity and libvirt relabels nothing;
    // libvirt (null): qemu.conf's user, libvirt relabels.
    dac: opts.qemu,
  };
}

function checkRootFiles(job: JobPlan, opts: DomainSpecOptions): void {
  const c = opts.config;
  const bad = (what: string): never => {
    throw new VtorqueError('INTERNAL', `domain of job ${job.job.jobId}: ${what}`, { fault: 'node' });
  };
  const poolImage = inImagePool(c.VM_IMG_DIR, job.baseImage) ? job.baseImage : null;
  if (opts.boot && (poolImage === null || opts.boot.kernel !== bootFilePaths(poolImage).kernel || opts.boot.initrd !== bootFilePaths(poolImage).initrd)) {
    bad(`direct kernel boot files ${opts.boot.kernel}, ${opts.boot.initrd} are not those of its pool image in VM_IMG_DIR (${c.VM_IMG_DIR}); a user's image boots from its disk`);
  }
  const where = dirname(opts.backing.file);
  if (opts.backing.file !== poolImage && where !== job.jobDir && where !== ramdiskPath(c, job.job.jobId)) {
    bad(`backing file ${opts.backing.file} is neither its pool image nor a copy in the job's own directory`);
  }
  if ((opts.virtiofs ?? []).length > 0) bad('virtiofs shares are refused (a root virtiofsd in passthrough mode)');
}

function netFromConfig(c: SiteConfig, mac: string): DomainNet {
  return c.VM_NETWORK !== '' ? { kind: 'network', network: c.VM_NETWORK, mac } : { kind: 'bridge', bridge: c.VM_BRIDGE, mac };
}

/** `[5, 1, 2, 3]` → `'1-3,5'`: libvirt's cpuset/nodeset syntax. */
export function toCpuset(ids: readonly number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] as number) + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}
