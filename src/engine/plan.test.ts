import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../core/config/validate.js';
import type { SiteConfig } from '../core/config/schema.js';
import type { VmRequest } from '../core/request/types.js';
import { deriveMac, normaliseMac } from './mac.js';
import { domainName, domainPrefix, guestHostname } from './naming.js';
import { CapacityError, pickQemuUid, planJob } from './plan.js';
import type { NodeState, PlanInput } from './types.js';

const base = defaultConfig();
const config: SiteConfig = { ...base, HOST_OS_CORE_COUNT: 1, HOST_OS_RAM_MB: 1024, SPOOL_DIR: '/var/spool/vtorque' };
const request: VmRequest = {
  version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 2, ram: 1024, vms_per_node: 2,
  vcpu_pinning: true, disk: '/home/alice/data.qcow2', vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};
const node = (name: string, numa: Record<number, number[]>, extra: Partial<NodeState> = {}): NodeState => ({
  name,
  capacity: { cores: Object.values(numa).flat().length, memMiB: 16384, numa },
  usedMacs: new Set(),
  busyCpus: new Set(),
  busyQemuUids: new Set(),
  heldMemMiB: 0,
  ...extra,
});
let n = 0;
const input = (over: Partial<PlanInput> = {}, req: Partial<VmRequest> = {}): PlanInput => ({
  job: { jobId: '42.server', owner: { user: 'alice', uid: 1001, gid: 1001, group: 'alice' } },
  request: { ...request, ...req },
  config,
  nodes: [node('n01', { 0: [0, 1, 2, 3, 4, 5, 6, 7] })],
  baseImage: '/opt/vm-images/debian-12-x86_64.qcow2',
  uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  ...over,
});

describe('planJob', () => {
  it('names, ranks, files and pins every VM; the persistent disk goes to rank 0 only', () => {
    const plan = planJob(input({ nodes: [node('n01.cluster', { 0: [0, 1, 2, 3, 4, 5, 6, 7] }), node('n02', { 0: [0, 1, 2, 3, 4, 5, 6, 7] })] }));
    expect(plan.jobDir).toBe('/var/spool/vtorque/jobs/42.server');
    expect(plan.vms.map((v) => [v.name, v.hostname, v.rank])).toEqual([
      ['vtq-42.server-n01-1', 'vn01-1', 0],
      ['vtq-42.server-n01-2', 'vn01-2', 1],
      ['vtq-42.server-n02-1', 'vn02-1', 2],
      ['vtq-42.server-n02-2', 'vn02-2', 3],
    ]);
    expect(plan.vms[0]?.pins).toEqual([{ vcpu: 0, cpu: 1 }, { vcpu: 1, cpu: 2 }]);
    expect(plan.vms[1]?.pins.map((p) => p.cpu)).toEqual([3, 4]);
    expect(plan.vms.map((v) => v.persistentDisk)).toEqual(['/home/alice/data.qcow2', null, null, null]);
    expect(plan.vms[0]?.overlay).toBe('/var/spool/vtorque/jobs/42.server/vms/vtq-42.server-n01-1/disk.qcow2');
    expect(new Set(plan.vms.map((v) => v.mac)).size).toBe(4);
    for (const v of plan.vms) expect(v.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
  });

  it('keeps each VM inside one NUMA node and records it', () => {
    const plan = planJob(input({ nodes: [node('n', { 0: [0, 1, 2, 3], 1: [4, 5, 6, 7] })] }, { vcpus: 3 }));
    expect(plan.vms.map((v) => v.pins.map((p) => p.cpu))).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(plan.vms.map((v) => v.numaNodes)).toEqual([[0], [1]]);
  });

  it('skips CPUs pinned by other jobs and does not pin when asked not to', () => {
    const busy = planJob(input({ nodes: [node('n', { 0: [0, 1, 2, 3, 4, 5, 6, 7] }, { busyCpus: new Set([1, 2, 3]) })] }));
    expect(busy.vms.map((v) => v.pins.map((p) => p.cpu))).toEqual([[4, 5], [6, 7]]);
    expect(planJob(input({}, { vcpu_pinning: false })).vms.every((v) => v.pins.length === 0)).toBe(true);
  });

  it('takes an explicit pinning map and validates it against the node', () => {
    const map = { path: '/home/a/pin', cpus: [[7, 6], [5, 4]] };
    expect(planJob(input({}, { vcpu_pinning: map })).vms.map((v) => v.pins.map((p) => p.cpu))).toEqual([[7, 6], [5, 4]]);
    expect(() => planJob(input({}, { vcpu_pinning: { ...map, cpus: [[9, 6], [5, 4]] } }))).toThrow(/CPU 9, which this node does not have/);
    expect(() => planJob(input({}, { vcpu_pinning: { ...map, cpus: [[0, 6], [5, 4]] } }))).toThrow(/CPU 0, kept for the host/);
  });

  it('refuses plans that do not fit, with the numbers', () => {
    expect(() => planJob(input({}, { vcpus: 4 }))).toThrow(new CapacityError('node n01: 2 VM(s) x 4 vCPU(s) + 1 host core(s) = 9 cores, the node has 8', 'job'));
    expect(() => planJob(input({}, { ram: 8000 }))).toThrow(/16000 MiB, the node has 16384 MiB minus 1024 MiB for the host = 15360 MiB/);
    expect(() => planJob(input({}, { vms_per_node: 5, vcpus: 1 }))).toThrow(/MAX_VMS_PER_NODE is 4/);
    expect(() => planJob(input({ nodes: [node('n', { 0: [0, 1, 2, 3, 4, 5, 6, 7] }, { busyCpus: new Set([1, 2, 3, 4]) })] }))).toThrow(/4 pinned cores needed, 3 free/);
  });

  it('MACs avoid those already on the node and custom MACs must be unique', () => {
    const first = deriveMac('52:54:00', '42.server', 'n01', 1, new Set());
    const plan = planJob(input({ nodes: [node('n01', { 0: [0, 1, 2, 3, 4, 5, 6, 7] }, { usedMacs: new Set([first]) })] }));
    expect(plan.vms[0]?.mac).not.toBe(first);
    expect(() => planJob(input(), () => '52:54:00:00:00:01')).toThrow(/already in use/);
    expect(normaliseMac('52-54-00-AA-BB-CC')).toBe('52:54:00:aa:bb:cc');
    expect(normaliseMac('53:54:00:aa:bb:cc')).toBeUndefined();
  });

  it('sanitises hostile job ids and node names', () => {
    expect(domainName('1[2].srv/../x', 'n 1;rm', 1)).toBe('vtq-1_2_.srv_.._x-n_1_rm-1');
    expect(domainPrefix("a'b")).toBe('vtq-a_b-');
    expect(guestHostname('Node_7.Cluster', 3)).toBe('vnode-7-3');
  });

  describe('QEMU_USER job-uid: one qemu uid per job from QEMU_UIDS', () => {
    const jobUid: SiteConfig = { ...config, QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145000009' };
    const numa = { 0: [0, 1, 2, 3, 4, 5, 6, 7] };

    it('no uid with QEMU_USER libvirt or owner', () => {
      expect(planJob(input({ config: { ...config, QEMU_USER: 'libvirt' } })).qemuUid).toBeNull();
      expect(planJob(input({ config: { ...config, QEMU_USER: 'owner', QEMU_UIDS: '2145000000-2145000009' } })).qemuUid).toBeNull();
    });

    it('takes the lowest uid no domain on any of the job\'s nodes holds; uids outside the range do not matter', () => {
      expect(planJob(input({ config: jobUid })).qemuUid).toBe(2145000000);
      const n01 = node('n01', numa, { busyQemuUids: new Set([2145000000, 2145000002, 1000, 2145000010]) });
      const n02 = node('n02', numa, { busyQemuUids: new Set([2145000001]) });
      expect(planJob(input({ config: jobUid, nodes: [n01] })).qemuUid).toBe(2145000001);
      expect(planJob(input({ config: jobUid, nodes: [n01, n02] })).qemuUid).toBe(2145000003);
    });

    it('successive jobs on a node get distinct uids, and a freed uid is taken again', () => {
      const busy = new Set<number>();
      const uids: number[] = [];
      for (let i = 0; i < 4; i++) {
        const uid = planJob(input({ config: jobUid, nodes: [node('n01', numa, { busyQemuUids: new Set(busy) })] })).qemuUid as number;
        uids.push(uid);
        busy.add(uid); // the job's domains are defined under the node lock before the next job observes
      }
      expect(uids).toEqual([2145000000, 2145000001, 2145000002, 2145000003]);
      busy.delete(2145000001);
      expect(planJob(input({ config: jobUid, nodes: [node('n01', numa, { busyQemuUids: busy })] })).qemuUid).toBe(2145000001);
    });

    it('refuses when every uid of the range is held, with the numbers', () => {
      const small: SiteConfig = { ...jobUid, QEMU_UIDS: '2145000000-2145000002' };
      const full = node('n01', numa, { busyQemuUids: new Set([2145000000, 2145000001]) });
      const rest = node('n02', numa, { busyQemuUids: new Set([2145000002]) });
      expect(planJob(input({ config: small, nodes: [full] })).qemuUid).toBe(2145000002);
      expect(() => planJob(input({ config: small, nodes: [full, rest] }))).toThrow(
        new CapacityError('QEMU_UIDS 2145000000-2145000002: all 3 uid(s) are held by domains on node n01, node n02 (QEMU_USER job-uid gives every job its own); wait for jobs to end, remove leftover domains (vtorque gc) or widen QEMU_UIDS', 'node'),
      );
      expect(() => planJob(input({ config: small, nodes: [full, rest] }))).toThrow(CapacityError);
    });

    it('refuses without a usable QEMU_UIDS (CONFIG_INVALID)', () => {
      expect(() => planJob(input({ config: { ...jobUid, QEMU_UIDS: '' } }))).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/QEMU_USER job-uid needs QEMU_UIDS/) }));
      expect(() => pickQemuUid({ QEMU_UIDS: '5-10' }, [])).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    });
  });
});
