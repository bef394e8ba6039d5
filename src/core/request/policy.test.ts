import { describe, expect, it } from 'vitest';
import type { SiteConfig } from '../config/schema.js';
import { defaultConfig } from '../config/validate.js';
import { ValidationError } from '../errors.js';
import { applyPolicy, DISK_NEEDS_OWNER, diskNeedsOwner } from './policy.js';
import type { VmRequest } from './types.js';

const request: VmRequest = {
  version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 512, vms_per_node: 1,
  vcpu_pinning: false, disk: '/srv/disks/alice/data.qcow2', vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};
const pool = ['debian-12-x86_64.qcow2'];
const site = (over: Partial<SiteConfig>): SiteConfig => ({ ...defaultConfig(), DISK_DIRS: ['/srv/disks'], ...over });
const failure = (fn: () => unknown): ValidationError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
};

describe('applyPolicy: -vm disk= and QEMU_USER', () => {
  it('QEMU_USER owner: a disk under DISK_DIRS is accepted as before', () => {
    expect(defaultConfig().QEMU_USER).toBe('job-uid');
    expect(applyPolicy(request, site({ QEMU_USER: 'owner' }), pool).request.disk).toBe(request.disk);
  });

  it('QEMU_USER owner: a disk outside DISK_DIRS is still refused', () => {
    const err = failure(() => applyPolicy({ ...request, disk: '/etc/shadow' }, site({ QEMU_USER: 'owner' }), pool));
    expect(err.code).toBe('REQUEST_INVALID');
    expect(err.issues).toEqual([{ source: '-vm', key: 'disk', value: '/etc/shadow', expected: 'a file under one of DISK_DIRS: /srv/disks' }]);
  });

  it('QEMU_USER libvirt: any disk is refused (REQUEST_INVALID, naming the key and why), even under DISK_DIRS', () => {
    const err = failure(() => applyPolicy(request, site({ QEMU_USER: 'libvirt' }), pool, 'job.sh'));
    expect(err.code).toBe('REQUEST_INVALID');
    expect(err.issues).toEqual([{ source: 'job.sh', key: 'disk', value: request.disk, expected: `no disk: ${DISK_NEEDS_OWNER}` }]);
    expect(err.message).toBe(`job.sh: disk = "${request.disk}": expected no disk: persistent disks (-vm disk=) need QEMU_USER: owner, and this site runs qemu as libvirt's user (QEMU_USER: libvirt), where libvirt would chown, as root, whatever file the path names when the VM starts`);
  });

  it('QEMU_USER libvirt: a request without a disk passes', () => {
    expect(applyPolicy({ ...request, disk: null }, site({ QEMU_USER: 'libvirt' }), pool).request.disk).toBeNull();
  });

  it('QEMU_USER job-uid: any disk is refused too, the message naming the mode and why', () => {
    const err = failure(() => applyPolicy(request, site({ QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145009999' }), pool, 'job.sh'));
    expect(err.code).toBe('REQUEST_INVALID');
    expect(err.issues).toEqual([{ source: 'job.sh', key: 'disk', value: request.disk, expected: `no disk: ${diskNeedsOwner('job-uid')}` }]);
    expect(err.message).toBe(`job.sh: disk = "${request.disk}": expected no disk: persistent disks (-vm disk=) need QEMU_USER: owner, and this site runs each job's qemu as a uid of its own that belongs to nobody (QEMU_USER: job-uid), which cannot open a disk the job owner owns`);
    expect(DISK_NEEDS_OWNER).toBe(diskNeedsOwner('libvirt'));
    expect(applyPolicy({ ...request, disk: null }, site({ QEMU_USER: 'job-uid' }), pool).request.disk).toBeNull();
  });
});
