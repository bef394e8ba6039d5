import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildDomainXml, parseOwnerMetadata, type DomainSpec } from '../../src/core/libvirt/index.js';
import { createRenderer } from '../../src/core/render/index.js';
import { defaultConfig } from '../../src/core/config/validate.js';
import type { VmRequest } from '../../src/core/request/types.js';
import { toDomainSpec } from '../../src/engine/libvirt/index.js';
import { planJob } from '../../src/engine/plan.js';
import { qemuIdentity } from '../../src/engine/qemu-identity.js';
import { checkWellFormed, elementsAt, externalWellFormed } from './helpers/xml-check.js';

const renderer = createRenderer(fileURLToPath(new URL('../../templates-vm', import.meta.url)));

const basic: DomainSpec = {
  name: 'vtq-42.srv-node01-0',
  uuid: '6f1c1b9e-3f43-4b4e-9a53-0c2f0e6b7a01',
  type: 'qemu',
  memoryMiB: 1024,
  vcpus: 2,
  vcpuPins: [
    { vcpu: 0, cpuset: '2' },
    { vcpu: 1, cpuset: '3' },
  ],
  emulatorCpuset: '0-1',
  numaNodeset: '0',
  machine: 'q35',
  arch: 'x86_64',
  boot: { kernel: '/opt/vm-images/vmlinuz', initrd: '/opt/vm-images/initrd.img', cmdline: 'root=/dev/vda rw console=ttyS0 quiet' },
  disks: [
    { file: '/var/spool/vtorque/jobs/42.srv/node01-0.qcow2', format: 'qcow2', target: 'vda', readonly: false, backing: { file: '/opt/vm-images/debian-12-x86_64.qcow2', format: 'qcow2' } },
    { file: '/var/spool/vtorque/jobs/42.srv/node01-0-seed.iso', format: 'raw', target: 'vdb', readonly: true, backing: null },
  ],
  net: { kind: 'network', network: 'jobnet', mac: '52:54:00:AA:00:01' },
  consoleLog: '/var/log/vtorque/42.srv/node01-0.console.log',
  tcgTbCacheMiB: 256,
  virtiofs: [{ dir: '/home', tag: 'vtq-home' }],
  owner: { job: '42.srv', user: 'alice', node: 'node01', index: 0 },
  dac: { uid: 1001, gid: 1002 },
};

// Each hostile value carries quotes, a newline-free break-out attempt, a CDATA end, a command
// substitution, element injection and non-ASCII text. Names may not contain "/" (libvirt's rule).
const HOSTILE_NAME = `it's "x" ]]> $(rm -rf ~) <name>evil<devices><disk type='file'> & é 日本 🦄`;
const HOSTILE_TEXT = `it's "x" ]]> $(rm -rf /) </name><devices><disk type='file'><source file='/etc/shadow'/> &amp; é 日本 🦄`;
const HOSTILE_PATH = `/srv/${HOSTILE_TEXT.replace(/\.\./g, '')}/disk.qcow2`;

const hostile: DomainSpec = {
  ...basic,
  name: HOSTILE_NAME,
  boot: { kernel: HOSTILE_PATH, initrd: HOSTILE_PATH, cmdline: HOSTILE_TEXT },
  disks: [
    { file: HOSTILE_PATH, format: 'raw', target: 'vda', readonly: true, backing: { file: HOSTILE_PATH, format: 'qcow2' } },
    { file: HOSTILE_PATH, format: 'raw', target: 'vdb', readonly: true, backing: null },
  ],
  consoleLog: HOSTILE_PATH,
  virtiofs: [{ dir: HOSTILE_PATH, tag: 'share' }],
  owner: { job: HOSTILE_TEXT, user: `o'brien "${HOSTILE_TEXT}"`, node: `n1 é日本🦄 ${HOSTILE_TEXT}`, index: 3 },
};

function check(xml: string) {
  const elements = checkWellFormed(xml);
  externalWellFormed(xml);
  return elements;
}

describe('buildDomainXml (golden)', () => {
  it('renders a basic TCG job VM', async () => {
    const xml = buildDomainXml(basic, renderer);
    await expect(xml).toMatchFileSnapshot('./golden/domain-basic.xml');
    const el = check(xml);
    expect(elementsAt(el, 'domain')[0]?.attrs.type).toBe('qemu');
    expect(elementsAt(el, 'domain/features/tcg/tb-cache')[0]?.text).toBe('256');
    expect(elementsAt(el, 'domain/devices/channel')).toHaveLength(0);
    expect(elementsAt(el, 'domain/devices/graphics')).toHaveLength(0);
    // The seed is a read-only virtio disk; no USB, no SCSI controller; no NIC boot ROM.
    expect(elementsAt(el, 'domain/devices/disk/target').map((e) => e.attrs)).toEqual([{ dev: 'vda', bus: 'virtio' }, { dev: 'vdb', bus: 'virtio' }]);
    expect(elementsAt(el, 'domain/devices/controller').map((e) => e.attrs)).toEqual([{ type: 'usb', model: 'none' }]);
    expect(elementsAt(el, 'domain/devices/interface/rom')[0]?.attrs).toEqual({ enabled: 'no' });
    expect(elementsAt(el, 'domain/memoryBacking/source')[0]?.attrs.type).toBe('memfd');
    expect(elementsAt(el, 'domain/devices/interface/mac')[0]?.attrs.address).toBe('52:54:00:aa:00:01');
    expect(parseOwnerMetadata(xml)).toEqual(basic.owner);
    // QEMU_USER owner: qemu runs as the job owner and libvirt relabels nothing.
    expect(elementsAt(el, 'domain/seclabel').map((e) => e.attrs)).toEqual([{ type: 'static', model: 'dac', relabel: 'no' }]);
    expect(elementsAt(el, 'domain/seclabel/label').map((e) => e.text)).toEqual(['+1001:+1002']);
    expect(elementsAt(el, 'domain/devices/seclabel')).toHaveLength(0);
  });

  it('renders a kvm VM on a bridge that boots from disk', () => {
    const xml = buildDomainXml(
      { ...basic, type: 'kvm', boot: null, vcpuPins: [], disks: basic.disks.slice(0, 1), virtiofs: [], net: { kind: 'bridge', bridge: 'br0', mac: '52:54:00:00:00:02' }, dac: { uid: 0, gid: 0 } },
      renderer,
    );
    const el = check(xml);
    expect(elementsAt(el, 'domain/features/tcg')).toHaveLength(0);
    expect(elementsAt(el, 'domain/os/boot')[0]?.attrs.dev).toBe('hd');
    expect(elementsAt(el, 'domain/os/kernel')).toHaveLength(0);
    expect(elementsAt(el, 'domain/cputune/vcpupin')).toHaveLength(0);
    expect(elementsAt(el, 'domain/cputune/emulatorpin')).toHaveLength(1);
    expect(elementsAt(el, 'domain/memoryBacking')).toHaveLength(0);
    expect(elementsAt(el, 'domain/devices/controller').map((e) => e.attrs.model)).toEqual(['none']);
    expect(elementsAt(el, 'domain/devices/interface')[0]?.attrs.type).toBe('bridge');
    expect(elementsAt(el, 'domain/devices/interface/source')[0]?.attrs).toEqual({ bridge: 'br0' });
    expect(elementsAt(el, 'domain/seclabel/label').map((e) => e.text)).toEqual(['+0:+0']);
  });

  it('renders no seclabel without a DAC label (QEMU_USER libvirt: qemu.conf\'s user, libvirt relabels)', () => {
    const el = check(buildDomainXml({ ...basic, dac: null }, renderer));
    expect(el.filter((e) => e.name === 'seclabel' || e.name === 'label')).toHaveLength(0);
  });

  it('renders a test-driver VM (no guest agent channel: nothing uses one)', async () => {
    const { emulatorCpuset: _unused, ...unpinned } = basic;
    const xml = buildDomainXml({ ...unpinned, type: 'test', vcpuPins: [], dac: null }, renderer);
    await expect(xml).toMatchFileSnapshot('./golden/domain-test.xml');
    const el = check(xml);
    expect(elementsAt(el, 'domain/seclabel')).toHaveLength(0);
    expect(elementsAt(el, 'domain/devices/channel')).toHaveLength(0);
    expect(elementsAt(el, 'domain/features/tcg')).toHaveLength(0);
    expect(elementsAt(el, 'domain/cputune')).toHaveLength(0);
  });
});

describe('buildDomainXml (hostile values)', () => {
  const xml = buildDomainXml(hostile, renderer);

  it('stays well-formed and matches its golden file', async () => {
    await expect(xml).toMatchFileSnapshot('./golden/domain-hostile.xml');
    check(xml);
  });

  it('carries hostile text only escaped', () => {
    const injected = ['</name><devices>', '<name>evil', "<disk type='file'><source", "<source file='/etc/shadow'/>"];
    for (const raw of [HOSTILE_NAME, HOSTILE_TEXT, HOSTILE_PATH, "it's", '"x"', ']]>', '& ', ...injected]) {
      expect(xml.includes(raw), raw).toBe(false);
    }
    expect(xml).toContain('é 日本 🦄');
    expect(xml).toContain('$(rm -rf ~)');
  });

  it('has exactly one <name> and no injected element', () => {
    const el = check(xml);
    expect(elementsAt(el, 'domain/name').map((e) => e.text)).toEqual([HOSTILE_NAME]);
    expect(el.filter((e) => e.name === 'name')).toHaveLength(1);
    expect(el.filter((e) => e.name === 'devices')).toHaveLength(1);
    expect(elementsAt(el, 'domain/devices/disk').map((e) => e.attrs.device)).toEqual(['disk', 'disk']);
    expect(elementsAt(el, 'domain/devices/disk/source').map((e) => e.attrs.file)).toEqual([HOSTILE_PATH, HOSTILE_PATH]);
    expect(elementsAt(el, 'domain/os/cmdline')[0]?.text).toBe(HOSTILE_TEXT);
    expect(elementsAt(el, 'domain/devices/serial/log')[0]?.attrs.file).toBe(HOSTILE_PATH);
    expect(elementsAt(el, 'domain/devices/filesystem/source')[0]?.attrs.dir).toBe(HOSTILE_PATH);
  });

  it('round-trips hostile owner values through parseOwnerMetadata', () => {
    expect(parseOwnerMetadata(xml)).toEqual(hostile.owner);
  });

  it.each([
    ['a string', "1000'/><seclabel model='none"],
    ['a negative id', -1],
    ['(uid_t)-1', 2 ** 32 - 1],
  ])('refuses a DAC id that is %s', (_label, id) => {
    expect(() => buildDomainXml({ ...basic, dac: { uid: id as number, gid: 1 } }, renderer)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => buildDomainXml({ ...basic, dac: { uid: 1, gid: id as number } }, renderer)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });

  it.each([
    ['name', { name: 'a\nb' }],
    ['name with a slash', { name: 'a/b' }],
    ['cmdline', { boot: { ...basic.boot!, cmdline: 'quiet\n</cmdline>' } }],
    ['disk path', { disks: [{ ...basic.disks[0]!, file: '/a\nb' }] }],
    ['owner', { owner: { ...basic.owner, user: 'a\rb' } }],
    ['NUL', { owner: { ...basic.owner, job: 'a\0b' } }],
    ['ESC', { consoleLog: '/var/log/\x1b[2J' }],
    ['U+FFFE', { name: 'a\ufffe' }],
    ['lone surrogate', { name: 'a\ud800' }],
  ] as [string, Partial<DomainSpec>][])('refuses a newline, control character or slash: %s', (_label, patch) => {
    expect(() => buildDomainXml({ ...basic, ...patch }, renderer)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
  });
});

const virsh = spawnSync('virsh', ['--version']).status === 0;

describe.runIf(virsh)('libvirt test:///default driver', () => {
  it('defines the hostile test-driver XML and its dumpxml round-trips the owner', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-domain-'));
    try {
      const spec: DomainSpec = { ...hostile, type: 'test' };
      const file = join(dir, 'domain.xml');
      writeFileSync(file, buildDomainXml(spec, renderer));
      const r = spawnSync('virsh', ['-q', '-c', 'test:///default', `define ${file}; dumpxml ${spec.uuid}`], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const dumped = r.stdout.slice(r.stdout.indexOf('<domain'));
      const el = checkWellFormed(dumped);
      expect(elementsAt(el, 'domain/name')[0]?.text).toBe(HOSTILE_NAME);
      expect(parseOwnerMetadata(dumped)).toEqual(spec.owner);
      expect(elementsAt(el, 'domain/seclabel').map((e) => e.attrs)).toEqual([{ type: 'static', model: 'dac', relabel: 'no' }]);
      expect(elementsAt(el, 'domain/seclabel/label').map((e) => e.text)).toEqual(['+1001:+1002']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['with', { uid: 1001, gid: 1002 }],
    ['without', null],
  ] as const)('defines the basic XML %s a DAC seclabel against libvirt\'s schema (define --validate)', (_label, dac) => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-domain-'));
    try {
      const spec: DomainSpec = { ...basic, type: 'test', dac };
      const file = join(dir, 'domain.xml');
      writeFileSync(file, buildDomainXml(spec, renderer));
      const r = spawnSync('virsh', ['-q', '-c', 'test:///default', `define --validate ${file}; dumpxml ${spec.uuid}`], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const el = checkWellFormed(r.stdout.slice(r.stdout.indexOf('<domain')));
      expect(elementsAt(el, 'domain/seclabel/label').map((e) => e.text)).toEqual(dac ? [`+${dac.uid}:+${dac.gid}`] : []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('QEMU_USER job-uid: planJob → toDomainSpec → buildDomainXml', () => {
  const request: VmRequest = {
    version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 2, ram: 1024, vms_per_node: 1,
    vcpu_pinning: true, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
    vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
  };
  const config = { ...defaultConfig(), QEMU_USER: 'job-uid' as const, QEMU_UIDS: '2145000000-2145009999', HOST_OS_CORE_COUNT: 1, HOST_OS_RAM_MB: 1024, VM_NETWORK: 'jobnet' };
  const plan = planJob({
    job: { jobId: '42.srv', owner: { user: 'alice', uid: 1001, gid: 1001, group: 'alice' } },
    request,
    config,
    // uid ...000 is held by another job's domain on the node: this job gets ...001.
    nodes: [{ name: 'node01', capacity: { cores: 4, memMiB: 8192, numa: { 0: [0, 1, 2, 3] } }, usedMacs: new Set(), busyCpus: new Set(), busyQemuUids: new Set([2145000000]), heldMemMiB: 0 }],
    baseImage: '/opt/vm-images/debian-12-x86_64.qcow2',
    uuid: () => '6f1c1b9e-3f43-4b4e-9a53-0c2f0e6b7a02',
  });
  const vm = plan.vms[0] as (typeof plan.vms)[number];
  const spec = (kvmGid: number | null, type: 'qemu' | 'test' = 'qemu'): DomainSpec =>
    toDomainSpec(vm, plan, { type, config, disk: vm.overlay, backing: { file: plan.baseImage, format: 'qcow2' }, seedIso: vm.seedIso, boot: null, persistentDisk: null, qemu: qemuIdentity(plan, config, kvmGid) });

  it('labels qemu with the job\'s uid and the kvm group\'s gid, never the owner\'s ids (golden)', async () => {
    expect(plan.qemuUid).toBe(2145000001);
    const xml = buildDomainXml(spec(107), renderer);
    await expect(xml).toMatchFileSnapshot('./golden/domain-job-uid.xml');
    const el = check(xml);
    expect(elementsAt(el, 'domain/seclabel').map((e) => e.attrs)).toEqual([{ type: 'static', model: 'dac', relabel: 'no' }]);
    expect(elementsAt(el, 'domain/seclabel/label').map((e) => e.text)).toEqual(['+2145000001:+107']);
    expect(xml).not.toContain('+1001');
  });

  it('without a kvm group the gid is the uid\'s number', () => {
    expect(elementsAt(check(buildDomainXml(spec(null), renderer)), 'domain/seclabel/label').map((e) => e.text)).toEqual(['+2145000001:+2145000001']);
  });

  it.runIf(virsh)('passes libvirt\'s schema (define --validate) and dumpxml keeps the label', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vtq-domain-'));
    try {
      const file = join(dir, 'domain.xml');
      writeFileSync(file, buildDomainXml(spec(107, 'test'), renderer));
      const r = spawnSync('virsh', ['-q', '-c', 'test:///default', `define --validate ${file}; dumpxml ${vm.uuid}`], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const el = checkWellFormed(r.stdout.slice(r.stdout.indexOf('<domain')));
      expect(elementsAt(el, 'domain/seclabel/label').map((e) => e.text)).toEqual(['+2145000001:+107']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
