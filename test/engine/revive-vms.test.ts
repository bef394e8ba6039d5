import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localNode, openLibvirt, startOnNodes, type LibvirtNode } from '../../src/engine/index.js';
import { bigNode, engineContext, engineSite, startInput } from './engine-harness.js';
import { foreignXml, spyNode } from './helpers.js';

// reviveVms on this host (test:///default): a VM whose domain was shut off during the boot is
// started again once per start; never a domain the node did not prepare.
let libvirt: LibvirtNode;
beforeAll(async () => {
  libvirt = await openLibvirt('test:///default');
});
afterAll(async () => {
  await libvirt.close();
});

describe('localNode.reviveVms', () => {
  it('starts a shut-off VM again once, then gives it up; a running VM is not reported; a domain it did not prepare is never touched', async () => {
    const { config, baseImage } = engineSite();
    const spy = spyNode(libvirt);
    const node = localNode(engineContext(config, spy), { name: 'node01', observe: async () => bigNode() });
    const foreign = `vtq-revive-foreign-${process.pid}`;
    await libvirt.define(foreignXml(foreign)); // defined, never started: shut off
    const started = await startOnNodes(startInput('401.srv', baseImage), [node], { config, log: { info: () => undefined, warn: () => undefined } });
    const [one, two] = started.vms.map((v) => v.name) as [string, string];
    try {
      expect(await node.reviveVms([one, two])).toEqual([]);
      await libvirt.destroy(one);
      spy.calls.length = 0;
      expect(await node.reviveVms([one, two, foreign])).toEqual([{ vm: one, state: 'shutoff', action: 'started-again', qemuLog: null }]);
      expect(await libvirt.state(one)).toBe('running');
      expect(spy.calls).toEqual([{ op: 'start', name: one }]);
      // It stops again: given up, not started a second time.
      await libvirt.destroy(one);
      expect(await node.reviveVms([one, two])).toEqual([{ vm: one, state: 'shutoff', action: 'given-up', qemuLog: null }]);
      expect(await libvirt.state(one)).toBe('shutoff');
      // Asked about only the foreign one: not looked at, not started.
      expect(await node.reviveVms([foreign])).toEqual([]);
      expect(await libvirt.state(foreign)).toBe('shutoff');
      expect(spy.calls.filter((c) => c.op === 'start')).toEqual([{ op: 'start', name: one }]);
    } finally {
      await node.stopVms('401.srv', { keepLogs: false });
      await libvirt.undefine(foreign);
    }
    // Gone: given up at once.
    expect(await node.reviveVms([two])).toEqual([{ vm: two, state: 'missing', action: 'given-up', qemuLog: null }]);
  });

  it('a new start of the same VMs may start each again once more', async () => {
    const { config, baseImage } = engineSite();
    const node = localNode(engineContext(config, libvirt), { name: 'node01', observe: async () => bigNode() });
    const head = { config, log: { info: () => undefined, warn: () => undefined } };
    for (let attempt = 1; attempt <= 2; attempt++) {
      const started = await startOnNodes(startInput('402.srv', baseImage, { vms_per_node: 1 }), [node], head);
      const vm = started.vms[0]?.name as string;
      try {
        await libvirt.destroy(vm);
        expect((await node.reviveVms([vm])).map((r) => r.action), `start ${attempt}`).toEqual(['started-again']);
      } finally {
        await node.stopVms('402.srv', { keepLogs: false });
      }
    }
  });
});
