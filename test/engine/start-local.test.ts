import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observeNode, openLibvirt, readVmRecords, startJobVms, stopJobVms, type LibvirtNode } from '../../src/engine/index.js';
import { bigNode, engineContext, engineSite, leftovers, startInput } from './engine-harness.js';

let libvirt: LibvirtNode;
beforeAll(async () => {
  libvirt = await openLibvirt('test:///default');
});
afterAll(async () => {
  await libvirt.close();
});

describe('engine: start and stop a job with the libvirt test driver', () => {
  it('plans, prepares, boots 8 VMs, records them, and leaves nothing behind after stop', async () => {
    const { config, baseImage } = engineSite();
    const lines: string[] = [];
    const ctx = engineContext(config, libvirt, (l) => lines.push(l));
    const started = await startJobVms(startInput('101.srv', baseImage, { vms_per_node: 8 }), ctx);
    expect(started.vms).toHaveLength(8);
    expect(started.timeline.map((m) => m.phase)).toEqual(['plan', 'prepare', 'boot']);
    const running = (await libvirt.listDomains()).filter((d) => d.name.startsWith('vtq-101.srv-'));
    expect(running.filter((d) => d.active)).toHaveLength(8);
    expect(readVmRecords(config, '101.srv').map((r) => r.rank)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(lines.join('\n')).toMatch(/planned 8 VM\(s\)[\s\S]*8 VM\(s\) running/);

    const stopped = await stopJobVms('101.srv', ctx, { keepLogs: false });
    expect(stopped.domains).toHaveLength(8);
    expect(await leftovers(libvirt, config, '101.srv')).toEqual([]);
    expect((await stopJobVms('101.srv', ctx, { keepLogs: false })).domains).toEqual([]); // idempotent
  });

  it('one VM failing to start tears the others down and removes every file', async () => {
    const { config, baseImage } = engineSite();
    const failing: LibvirtNode = {
      ...libvirt,
      listDomains: () => libvirt.listDomains(),
      xmlOf: (n) => libvirt.xmlOf(n),
      define: (xml) => libvirt.define(xml),
      start: async (name) => {
        if (name.endsWith('-3')) throw new Error('injected: cannot start');
        return libvirt.start(name);
      },
      shutdown: (n) => libvirt.shutdown(n),
      destroy: (n) => libvirt.destroy(n),
      undefine: (n) => libvirt.undefine(n),
      state: (n) => libvirt.state(n),
      close: async () => undefined,
    };
    const ctx = engineContext(config, failing);
    await expect(startJobVms(startInput('102.srv', baseImage, { vms_per_node: 4 }), ctx)).rejects.toThrow(/vtq-102.srv-node01-3/);
    expect(await leftovers(libvirt, config, '102.srv')).toEqual([]);
  });

  it('a plan that does not fit is refused before anything is created', async () => {
    const { config, baseImage } = engineSite({ HOST_OS_CORE_COUNT: 1 });
    const ctx = engineContext(config, libvirt);
    await expect(startJobVms(startInput('103.srv', baseImage, { vms_per_node: 4, vcpus: 4 }), ctx)).rejects.toThrow(/= 17 cores, the node has 16/);
    expect(await leftovers(libvirt, config, '103.srv')).toEqual([]);
  });

  it('ramdisk jobs get a sized tmpfs that stop unmounts', async () => {
    const { config, baseImage } = engineSite();
    const ctx = engineContext(config, libvirt);
    const started = await startJobVms(startInput('104.srv', baseImage, { fs_type: 'ramdisk' }), ctx);
    expect(started.prepared.ramdisk).not.toBeNull();
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(started.prepared.ramdisk as string);
    await stopJobVms('104.srv', ctx, { keepLogs: false });
    expect(await leftovers(libvirt, config, '104.srv')).toEqual([]);
  });

  it('keeps console logs when debugging, never another job\'s domains', async () => {
    const { config, baseImage } = engineSite();
    const ctx = engineContext(config, libvirt);
    await startJobVms(startInput('105.srv', baseImage), ctx);
    await startJobVms(startInput('1050.srv', baseImage, {}, [bigNode()]), ctx);
    await stopJobVms('105.srv', ctx, { keepLogs: true });
    const others = (await libvirt.listDomains()).filter((d) => d.name.startsWith('vtq-1050.srv-'));
    expect(others).toHaveLength(2);
    await stopJobVms('1050.srv', ctx, { keepLogs: false });
    expect(existsSync(join(config.SPOOL_DIR, 'jobs', '1050.srv'))).toBe(false);
  });

  it('QEMU_USER job-uid: jobs starting at once get distinct uids under the node lock; domains and files carry them; a stopped job frees its uid', async () => {
    const { config, baseImage } = engineSite({ QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145000009' });
    const ctx = { ...engineContext(config, libvirt), kvmGid: 107 };
    const capacity = bigNode().capacity;
    // As the prologue does: the node is observed under the lock, after earlier jobs defined their VMs.
    const observed = () => ({ name: 'node01', observe: () => observeNode('node01', capacity, libvirt) });
    const ids = ['106.srv', '107.srv', '108.srv'];
    const started = await Promise.all(ids.map((id) => startJobVms({ ...startInput(id, baseImage, { vcpu_pinning: false }), nodes: observed() }, ctx)));
    try {
      const uids = started.map((s) => s.plan.qemuUid);
      expect([...uids].sort()).toEqual([2145000000, 2145000001, 2145000002]);
      for (const s of started) {
        expect(s.prepared.qemu).toEqual({ uid: s.plan.qemuUid, gid: 107 });
        for (const vm of s.prepared.vms) {
          expect(await libvirt.xmlOf(vm.plan.name)).toContain(`<label>+${s.plan.qemuUid}:+107</label>`);
          expect(`${lstatSync(vm.disk).uid}:${lstatSync(vm.disk).gid}`).toBe(`${s.plan.qemuUid}:107`);
          expect(lstatSync(vm.plan.seedIso).uid).toBe(s.plan.qemuUid);
        }
      }
      expect((await observeNode('node01', capacity, libvirt)).busyQemuUids).toEqual(new Set([2145000000, 2145000001, 2145000002]));
      const freed = started.find((s) => s.plan.qemuUid === 2145000001)?.plan.job.jobId as string;
      await stopJobVms(freed, ctx, { keepLogs: false });
      const next = await startJobVms({ ...startInput('109.srv', baseImage, { vcpu_pinning: false }), nodes: observed() }, ctx);
      expect(next.plan.qemuUid).toBe(2145000001);
      await stopJobVms('109.srv', ctx, { keepLogs: false });
    } finally {
      for (const id of ids) await stopJobVms(id, ctx, { keepLogs: false });
    }
    for (const id of [...ids, '109.srv']) expect(await leftovers(libvirt, config, id)).toEqual([]);
  });
});
