import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { REQUEST_KEYS } from '../../src/core/request/index.js';
import { makeSite, type TestSite } from '../helpers/site.js';
import { vsub } from '../helpers/vsub-harness.js';

let site: TestSite;
beforeEach(() => {
  site = makeSite({ QEMU_USER: 'owner', DISK_DIRS: ['/'], METADATA_ALLOWED_KEYS: ['packages', 'timezone'], IOCM_ENABLED: true, VRDMA_ENABLED: true, UNCLOT_ENABLED: true });
  for (const [name, text] of Object.entries({ 'job.sh': 'echo\n', 'pin.txt': '0\n', 'pre.sh': 'true\n', 'meta.yaml': 'timezone: UTC\n', 'bad.yaml': '[1, 2]\n', 'disk.qcow2': 'd', 'empty.txt': '' })) {
    writeFileSync(join(site.cwd, name), text);
  }
});

// Every -vm key with one accepted and one refused value, through vsub's real parsing and policy.
const CASES: Record<(typeof REQUEST_KEYS)[number], [valid: string, expected: Record<string, unknown>, invalid: string]> = {
  img: ['centos-7.img', { img: 'centos-7.img', distro: 'centos' }, 'shadow'],
  distro: ['UBUNTU', { distro: 'ubuntu' }, 'windows'],
  arch: ['X86_64', { arch: 'x86_64' }, 'arm64'],
  vcpus: ['4', { vcpus: 4 }, '0'],
  ram: ['3G', { ram: 3072 }, '12X'],
  vms_per_node: ['2', { vms_per_node: 2 }, '-1'],
  vcpu_pinning: ['pin.txt', { vcpu_pinning: { cpus: [[0]] } }, 'empty.txt'],
  disk: ['disk.qcow2', {}, 'disk.iso'],
  vm_prologue: ['pre.sh', { vm_prologue: { content: 'true\n' } }, 'missing.sh'],
  vm_epilogue: ['pre.sh', { vm_epilogue: { content: 'true\n' } }, '/nonexistent/x'],
  fs_type: ['RAMDISK', { fs_type: 'ramdisk' }, 'tmpfs'],
  metadata: ['meta.yaml', { metadata: { data: { timezone: 'UTC' } } }, 'bad.yaml'],
  vrdma: ['yes', { vrdma: true }, 'maybe'],
  iocm: ['enabled', { iocm: true }, 'sometimes'],
  iocm_min_cores: ['2', { iocm_min_cores: 2 }, 'two'],
  iocm_max_cores: ['8', { iocm_max_cores: 8 }, '1.5'],
  unclot: ['false', { unclot: false }, 'perhaps'],
  unclot_shmem: ['2G', { unclot_shmem: 2048 }, '0M'],
};

describe('every -vm key', () => {
  it('has a case here', () => expect(Object.keys(CASES).sort()).toEqual([...REQUEST_KEYS].sort()));

  it.each(Object.entries(CASES))('%s: accepted and refused values', async (key, [valid, expected, invalid]) => {
    const ok = await vsub(site, ['--dry-run', '--json', '-vm', `${key.toUpperCase()}=${valid}`, 'job.sh']);
    expect(ok.err).not.toMatch(/expected/);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out).request).toMatchObject(expected);
    const bad = await vsub(site, ['-vm', `${key}=${invalid}`, 'job.sh']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(key === 'img' ? 'img' : key);
    expect(bad.qsub).toBeNull();
  });

  it('iocm_min_cores above iocm_max_cores is refused', async () => {
    const r = await vsub(site, ['-vm', 'iocm=true,iocm_min_cores=5,iocm_max_cores=2', 'job.sh']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('iocm_min_cores');
  });

  it('a disk outside DISK_DIRS is refused', async () => {
    site.writeConfig({ QEMU_USER: 'owner', DISK_DIRS: ['/srv/disks'] });
    const r = await vsub(site, ['-vm', 'disk=disk.qcow2', 'job.sh']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('DISK_DIRS');
  });

  it('features the site disables are switched off with a warning', async () => {
    site.writeConfig({ IOCM_ENABLED: false, VRDMA_ENABLED: false });
    const r = await vsub(site, ['--dry-run', '--json', '-vm', 'iocm=true,vrdma=true,unclot=true', 'job.sh']);
    expect(JSON.parse(r.out).request).toMatchObject({ iocm: false, vrdma: false, unclot: false });
    expect(r.err).toMatch(/iocm=true ignored[\s\S]*vrdma=true ignored[\s\S]*unclot=true ignored/);
  });
});
