import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../core/config/validate.js';
import { buildDomainXml } from '../../core/libvirt/index.js';
import { createRenderer } from '../../core/render/index.js';
import type { VmRequest } from '../../core/request/types.js';
import { planJob } from '../plan.js';
import { qemuIdentity } from '../qemu-identity.js';
import { toCpuset, toDomainSpec } from './domain-spec.js';

const config = { ...defaultConfig(), QEMU_USER: 'owner' as const, HOST_OS_CORE_COUNT: 1, HOST_OS_RAM_MB: 1024 };
const request: VmRequest = {
  version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 2, ram: 1024, vms_per_node: 2,
  vcpu_pinning: true, disk: '/home/alice/data.qcow2', vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};
const plan = planJob({
  job: { jobId: '42.server', owner: { user: 'alice', uid: 1001, gid: 1001, group: 'alice' } },
  request,
  config,
  nodes: [{ name: 'n01', capacity: { cores: 8, memMiB: 16384, numa: { 0: [0, 1, 2, 3], 1: [4, 5, 6, 7] } }, usedMacs: new Set(), busyCpus: new Set(), busyQemuUids: new Set(), heldMemMiB: 0 }],
  baseImage: '/opt/vm-images/debian-12-x86_64.qcow2',
  uuid: randomUUID,
});
const [vm0, vm1] = plan.vms as [(typeof plan.vms)[number], (typeof plan.vms)[number]];
const base = { config, disk: vm0.overlay, backing: { file: plan.baseImage, format: 'qcow2' as const }, seedIso: vm0.seedIso, boot: null, persistentDisk: null, qemu: qemuIdentity(plan, config, null) };

describe('toDomainSpec', () => {
  it('pins vCPUs, the emulator and memory to the planned CPUs and NUMA node', () => {
    const spec = toDomainSpec(vm1, plan, { ...base, type: 'qemu', persistentDisk: { path: '/home/alice/data.qcow2', format: 'raw' } });
    expect(spec.vcpuPins).toEqual([{ vcpu: 0, cpuset: '4' }, { vcpu: 1, cpuset: '5' }]);
    expect(spec.emulatorCpuset).toBe('4-5');
    expect(spec.numaNodeset).toBe('1');
    expect(spec.tcgTbCacheMiB).toBe(256);
    expect(spec.cpuMode).toBeUndefined();
    // The seed last, read-only, after the user's disk.
    expect(spec.disks.map((d) => [d.target, d.format, d.readonly])).toEqual([['vda', 'qcow2', false], ['vdb', 'raw', false], ['vdc', 'raw', true]]);
    expect(spec.disks[2]?.file).toBe(base.seedIso);
    // Backing chains are spelled out: the overlay's base by name, none for the user's disk or the seed.
    expect(spec.disks.map((d) => d.backing)).toEqual([{ file: plan.baseImage, format: 'qcow2' }, null, null]);
    expect(spec.net).toEqual({ kind: 'bridge', bridge: 'br0', mac: vm1.mac });
    expect(spec.owner).toEqual({ job: '42.server', user: 'alice', node: 'n01', index: 2 });
  });

  it('kvm guests get the host CPU and no TCG cache; VM_NETWORK wins over VM_BRIDGE', () => {
    const spec = toDomainSpec(vm0, plan, { ...base, type: 'kvm', config: { ...config, VM_NETWORK: 'jobnet' } });
    expect(spec.cpuMode).toBe('host-passthrough');
    expect(spec.tcgTbCacheMiB).toBe(0);
    expect(spec.net).toEqual({ kind: 'network', network: 'jobnet', mac: vm0.mac });
    const xml = buildDomainXml(spec, createRenderer(fileURLToPath(new URL('../../../templates-vm', import.meta.url))));
    expect(xml).toContain("<cpu mode='host-passthrough'/>");
    expect(xml).toContain("<emulatorpin cpuset='1-2'/>");
  });

  it('no pinning: no cputune, no numatune', () => {
    const unpinned = { ...vm0, pins: [], numaNodes: [] };
    const spec = toDomainSpec(unpinned, plan, { ...base, type: 'qemu' });
    expect(spec.vcpuPins).toEqual([]);
    expect('emulatorCpuset' in spec || 'numaNodeset' in spec).toBe(false);
  });

  it('QEMU_USER owner: qemu runs as the job owner\'s uid and primary gid, rendered as a static DAC seclabel', () => {
    expect(config.QEMU_USER).toBe('owner');
    const other = { ...plan, job: { ...plan.job, owner: { ...plan.job.owner, uid: 1001, gid: 2002 } } };
    const spec = toDomainSpec(vm0, other, { ...base, type: 'kvm', qemu: qemuIdentity(other, config, null) });
    expect(spec.dac).toEqual({ uid: 1001, gid: 2002 });
    const xml = buildDomainXml(spec, createRenderer(fileURLToPath(new URL('../../../templates-vm', import.meta.url))));
    expect(xml).toContain("  <seclabel type='static' model='dac' relabel='no'>\n    <label>+1001:+2002</label>\n  </seclabel>\n</domain>");
  });

  it('QEMU_USER libvirt: no DAC label, no seclabel (qemu.conf\'s user, libvirt relabels)', () => {
    const libvirtUser = { ...config, QEMU_USER: 'libvirt' as const };
    const spec = toDomainSpec(vm0, plan, { ...base, type: 'kvm', config: libvirtUser, qemu: qemuIdentity(plan, libvirtUser, null) });
    expect(spec.dac).toBeNull();
    const xml = buildDomainXml(spec, createRenderer(fileURLToPath(new URL('../../../templates-vm', import.meta.url))));
    expect(xml).not.toContain('seclabel');
  });

  it('QEMU_USER job-uid: qemu runs as the plan\'s uid from QEMU_UIDS, gid the kvm group\'s or else the uid\'s number; never the owner', () => {
    const jobUid = { ...config, QEMU_USER: 'job-uid' as const, QEMU_UIDS: '2145000000-2145009999' };
    const p = planJob({
      job: plan.job, request: { ...request, disk: null }, config: jobUid, baseImage: plan.baseImage, uuid: randomUUID,
      nodes: [{ name: 'n01', capacity: { cores: 8, memMiB: 16384, numa: { 0: [0, 1, 2, 3, 4, 5, 6, 7] } }, usedMacs: new Set(), busyCpus: new Set(), busyQemuUids: new Set([2145000000, 2145000001]), heldMemMiB: 0 }],
    });
    expect(p.qemuUid).toBe(2145000002);
    const [a, b] = p.vms as [(typeof p.vms)[number], (typeof p.vms)[number]];
    const opts = { ...base, config: jobUid, type: 'kvm' as const };
    // Every VM of the job runs as the same uid.
    expect([a, b].map((vm) => toDomainSpec(vm, p, { ...opts, qemu: qemuIdentity(p, jobUid, 107) }).dac)).toEqual([{ uid: 2145000002, gid: 107 }, { uid: 2145000002, gid: 107 }]);
    expect(toDomainSpec(a, p, { ...opts, qemu: qemuIdentity(p, jobUid, null) }).dac).toEqual({ uid: 2145000002, gid: 2145000002 });
    expect(toDomainSpec(a, p, { ...opts, qemu: qemuIdentity(p, jobUid, null) }).dac).toEqual({ uid: 2145000002, gid: 2145000002 });
    const xml = buildDomainXml(toDomainSpec(a, p, { ...opts, qemu: qemuIdentity(p, jobUid, 107) }), createRenderer(fileURLToPath(new URL('../../../templates-vm', import.meta.url))));
    expect(xml).toContain("  <seclabel type='static' model='dac' relabel='no'>\n    <label>+2145000002:+107</label>\n  </seclabel>\n</domain>");
    // A job-uid site with a plan that has no uid is a bug, not root's qemu.
    expect(() => qemuIdentity({ ...p, qemuUid: null }, jobUid, null)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it('names only root\'s files: boot files only of the job\'s pool image, a backing file only the pool image or a copy in the job\'s dirs, no virtiofs', () => {
    const refused = (opts: Partial<Parameters<typeof toDomainSpec>[2]>, p = plan, why: RegExp = /./) =>
      expect(() => toDomainSpec(vm0, p, { ...base, type: 'qemu', ...opts })).toThrow(expect.objectContaining({ code: 'INTERNAL', fault: 'node', message: expect.stringMatching(why) }));
    const kernelOf = (img: string) => ({ kernel: `${img}.vmlinuz`, initrd: `${img}.initrd`, cmdline: 'quiet' });
    // The pool image's own kernel and initrd, and copies of the base in the job dir or its tmpfs, are fine.
    const spec = toDomainSpec(vm0, plan, { ...base, type: 'qemu', boot: kernelOf(plan.baseImage) });
    expect(spec.boot).toEqual(kernelOf(plan.baseImage));
    toDomainSpec(vm0, plan, { ...base, type: 'qemu', backing: { file: `${plan.jobDir}/base.qcow2`, format: 'qcow2' } });
    toDomainSpec(vm0, plan, { ...base, type: 'qemu', backing: { file: `${config.RAMDISK_DIR}/42.server/base.img`, format: 'raw' } });
    // Anything else is refused.
    refused({ boot: kernelOf('/opt/vm-images/other.qcow2') }, plan, /direct kernel boot files .*other\.qcow2\.vmlinuz/);
    refused({ boot: { ...kernelOf(plan.baseImage), initrd: '/etc/shadow' } }, plan, /not those of its pool image/);
    refused({ backing: { file: '/etc/shadow', format: 'raw' } }, plan, /backing file \/etc\/shadow is neither/);
    refused({ backing: { file: `${plan.jobDir}/vms/x/base.qcow2`, format: 'qcow2' } });
    refused({ virtiofs: [{ dir: '/home', tag: 'home' }] }, plan, /virtiofs shares are refused/);
    // A user's image (ALLOW_USER_IMAGES): never its path, never a kernel beside it.
    const userImg = '/home/alice/mine.qcow2';
    const userPlan = { ...plan, baseImage: userImg };
    refused({ backing: { file: userImg, format: 'qcow2' } }, userPlan, /backing file \/home\/alice\/mine\.qcow2 is neither/);
    refused({ backing: { file: `${plan.jobDir}/base.qcow2`, format: 'qcow2' }, boot: kernelOf(userImg) }, userPlan, /a user's image boots from its disk/);
    expect(toDomainSpec(vm0, userPlan, { ...base, type: 'qemu', backing: { file: `${plan.jobDir}/base.qcow2`, format: 'qcow2' } }).disks[0]?.backing).toEqual({ file: `${plan.jobDir}/base.qcow2`, format: 'qcow2' });
  });

  it('toCpuset compresses runs', () => {
    expect(toCpuset([5, 1, 2, 3, 3, 9, 10])).toBe('1-3,5,9-10');
    expect(toCpuset([0])).toBe('0');
  });
});
