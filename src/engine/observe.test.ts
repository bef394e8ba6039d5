import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config as baseConfig, renderer, testPlan } from '../../test/engine/helpers.js';
import { buildDomainXml } from '../core/libvirt/index.js';
import { toDomainSpec } from './libvirt/domain-spec.js';
import { qemuIdentity } from './qemu-identity.js';
import { openLibvirt, type LibvirtNode } from './libvirt/index.js';
import { dacUids, domainMemoryKiB, observeNode } from './observe.js';
import { pickQemuUid } from './plan.js';
import type { JobPlan } from './types.js';

// test:///default is shared by every connection of this process (one process per test file).
let libvirt: LibvirtNode;
beforeAll(async () => {
  libvirt = await openLibvirt('test:///default');
});
afterAll(async () => {
  await libvirt.close();
});

const capacity = { cores: 8, memMiB: 16384, numa: { 0: [0, 1, 2, 3, 4, 5, 6, 7] } };
const config = { ...baseConfig, QEMU_USER: 'job-uid' as const, QEMU_UIDS: '2145000000-2145000009' };

/** The XML of a job's first VM with qemu as `qemuUid` (QEMU_USER job-uid), gid the kvm group's. */
function jobUidXml(jobId: string, qemuUid: number, kvmGid: number | null): { name: string; xml: string } {
  const plan: JobPlan = { ...testPlan(jobId, ['n01'], 1), qemuUid };
  const vm = plan.vms[0] as JobPlan['vms'][number];
  const spec = toDomainSpec(vm, plan, {
    type: 'test', config, disk: vm.overlay, backing: { file: plan.baseImage, format: 'qcow2' }, seedIso: vm.seedIso, boot: null, persistentDisk: null, qemu: qemuIdentity(plan, config, kvmGid),
  });
  return { name: vm.name, xml: buildDomainXml(spec, renderer) };
}

describe('observeNode: busyQemuUids', () => {
  it('collects the uid of every DAC label, defined or running, and a new job then plans another', async () => {
    const before = await observeNode('n01', capacity, libvirt);
    expect([...before.busyQemuUids]).toEqual([]);

    const running = jobUidXml(`1${process.pid}.obs`, 2145000000, 107);
    const defined = jobUidXml(`2${process.pid}.obs`, 2145000002, null);
    expect(defined.xml).toContain('<label>+2145000002:+2145000002</label>');
    await libvirt.define(running.xml);
    await libvirt.start(running.name);
    await libvirt.define(defined.xml); // defined only: it keeps its uid
    try {
      const dumped = await libvirt.xmlOf(running.name);
      expect(dumped).toMatch(/<seclabel type='static' model='dac' relabel='no'>\s*<label>\+2145000000:\+107<\/label>/);
      const node = await observeNode('n01', capacity, libvirt);
      expect([...node.busyQemuUids].sort((a, b) => a - b)).toEqual([2145000000, 2145000002]);
      expect(node.usedMacs.size).toBeGreaterThanOrEqual(2);
      expect(pickQemuUid(config, [node])).toBe(2145000001);
    } finally {
      await libvirt.destroy(running.name);
      for (const d of [running, defined]) await libvirt.undefine(d.name);
    }
    expect([...(await observeNode('n01', capacity, libvirt)).busyQemuUids]).toEqual([]);
  });
});

describe('dacUids', () => {
  it('reads numeric DAC labels only: static or dynamic, with or without "+"; not other models, self-closing or named labels', () => {
    const xml = `<domain>
  <devices><disk><source file='/x'><seclabel model='dac' relabel='no'/></source></disk></devices>
  <seclabel type='static' model='selinux' relabel='yes'><label>system_u:system_r:svirt_t:s0:c1,c2</label></seclabel>
  <seclabel type='static' model='dac' relabel='no'>
    <label>+2145000005:+107</label>
  </seclabel>
  <seclabel type="dynamic" model="dac" relabel="yes"><label>64055:64055</label><imagelabel>+1:+1</imagelabel></seclabel>
  <seclabel type='static' model='dac' relabel='no'><label>alice:alice</label></seclabel>
  <seclabel type='none' model='dac'/>
</domain>`;
    expect(dacUids(xml)).toEqual([2145000005, 64055]);
    expect(dacUids('<domain><name>x</name></domain>')).toEqual([]);
  });
});

describe('observeNode: memory running domains hold', () => {
  it('sums <memory> of running domains only (defined ones hold nothing), in any unit', async () => {
    const before = (await observeNode('n01', capacity, libvirt)).heldMemMiB;
    const { name, xml } = jobUidXml('31.mem', 2145000007, null);
    await libvirt.define(xml);
    expect((await observeNode('n01', capacity, libvirt)).heldMemMiB).toBe(before);
    await libvirt.start(name);
    try {
      expect((await observeNode('n01', capacity, libvirt)).heldMemMiB).toBe(before + testPlan('31.mem', ['n01'], 1).vms[0]!.memoryMiB);
    } finally {
      await libvirt.destroy(name);
      await libvirt.undefine(name);
    }
  });

  it('reads libvirt\'s units', () => {
    expect(domainMemoryKiB("<memory unit='KiB'>2097152</memory>")).toBe(2097152);
    expect(domainMemoryKiB("<memory unit='GiB'>2</memory>")).toBe(2097152);
    expect(domainMemoryKiB('<memory>1024</memory>')).toBe(1024);
    expect(domainMemoryKiB("<memory unit='MiB'>512</memory><currentMemory unit='MiB'>256</currentMemory>")).toBe(524288);
    expect(domainMemoryKiB('<domain/>')).toBe(0);
  });
});
