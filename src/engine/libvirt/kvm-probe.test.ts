import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeKvm } from './kvm-probe.js';
import { openLibvirt } from './node.js';

// The real probe is only run by hand on a KVM host; here the test driver (which accepts
// type='kvm' and reports a moving CPU time) exercises its create → watch → destroy path.
describe('probeKvm', () => {
  it('is conclusive "no" without a usable /dev/kvm, before touching libvirt', async () => {
    expect(await probeKvm('qemu:///nowhere', { kvmDevice: '/nonexistent/kvm' })).toMatchObject({ ok: false, conclusive: true, reason: expect.stringMatching(/^\/nonexistent\/kvm is not usable/) });
  });

  it('a libvirt that cannot be reached is not conclusive', async () => {
    const dev = join(mkdtempSync(join(tmpdir(), 'vtq-kvm-')), 'kvm');
    writeFileSync(dev, '');
    expect(await probeKvm('qemu+tcp://127.0.0.1:1/system', { kvmDevice: dev })).toMatchObject({ ok: false, conclusive: false });
  });

  it('starts, watches and destroys its throw-away guest', async () => {
    const dev = join(mkdtempSync(join(tmpdir(), 'vtq-kvm-')), 'kvm');
    writeFileSync(dev, '');
    const lv = await openLibvirt('test:///default');
    try {
      const result = await probeKvm('test:///default', { kvmDevice: dev });
      expect(result).toMatchObject({ ok: true, conclusive: true });
      expect((await lv.listDomains()).filter((d) => d.name.startsWith('vtorque-kvm-probe-'))).toEqual([]);
      expect(await lv.state('test')).toBe('running');
    } finally {
      await lv.close();
    }
  });
});
