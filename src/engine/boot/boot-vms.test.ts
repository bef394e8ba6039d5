import { describe, expect, it } from 'vitest';
import { DeadlineError, silentLog, type LibvirtNode } from '../libvirt/index.js';
import { bootVms, BootError } from './boot-vms.js';

const owned = (name: string) =>
  `<domain type='test'><name>${name}</name><metadata><vtq:job xmlns:vtq="urn:x-vtorque:job:1" id="1.s" owner="a" node="n" index="1"/></metadata></domain>`;

/** Domains in memory; `hold` makes define of a name wait until released. */
function fakeNode(hold: Map<string, Promise<void>> = new Map()) {
  const defined = new Set<string>();
  const running = new Set<string>();
  const calls: string[] = [];
  const nameOf = (xml: string) => /<name>([^<]*)</.exec(xml)?.[1] ?? '?';
  const node: LibvirtNode = {
    uri: 'fake:///',
    listDomains: async () => [...defined].map((name) => ({ name, active: running.has(name) })),
    xmlOf: async (n) => owned(n),
    define: async (xml) => {
      const n = nameOf(xml);
      calls.push(`define ${n}`);
      await hold.get(n);
      defined.add(n);
    },
    start: async (n) => {
      calls.push(`start ${n}`);
      if (n.endsWith('-boom')) throw new Error('internal error: qemu unexpectedly closed the monitor');
      running.add(n);
    },
    shutdown: async () => undefined,
    destroy: async (n) => void (calls.push(`destroy ${n}`), running.delete(n)),
    undefine: async (n) => void (calls.push(`undefine ${n}`), defined.delete(n)),
    state: async (n) => (running.has(n) ? 'running' : defined.has(n) ? 'shutoff' : 'missing'),
    cpuTimeMs: async () => null,
    close: async () => undefined,
  };
  return { node, defined, running, calls };
}

describe('bootVms', () => {
  it('reports every failed VM after all have tried, with libvirt\'s reason', async () => {
    const f = fakeNode();
    const domains = ['a', 'b-boom', 'c', 'd-boom'].map((n) => ({ name: n, xml: owned(n) }));
    const err = (await bootVms(f.node, domains, { parallel: 1, deadlineMs: 5000, log: silentLog }).catch((e: unknown) => e)) as BootError;
    expect(err).toBeInstanceOf(BootError);
    expect(err.message).toBe('boot failed for 2 of 4 VM(s): b-boom: start failed: internal error: qemu unexpectedly closed the monitor; d-boom: start failed: internal error: qemu unexpectedly closed the monitor');
    expect(err.booted.map((b) => b.name)).toEqual(['a', 'c']);
    expect([...f.running].sort()).toEqual(['a', 'c']);
  });

  it('bounds each step by the deadline and undoes a define that answers late', async () => {
    let release: () => void = () => undefined;
    const f = fakeNode(new Map([['slow', new Promise<void>((r) => (release = r))]]));
    const domains = [{ name: 'fast', xml: owned('fast') }, { name: 'slow', xml: owned('slow') }];
    const t0 = performance.now();
    const err = (await bootVms(f.node, domains, { parallel: 2, deadlineMs: 100, log: silentLog }).catch((e: unknown) => e)) as BootError;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err.failures.map((x) => [x.name, x.phase])).toEqual([['slow', 'define']]);
    expect(err.failures[0]?.error).toBeInstanceOf(DeadlineError);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(f.calls).toContain('undefine slow');
    expect(f.defined.has('slow')).toBe(false);
  });

  it('begins no libvirt call once the deadline has passed', async () => {
    const f = fakeNode(new Map([['slow', new Promise<void>(() => undefined)]]));
    const domains = [{ name: 'slow', xml: owned('slow') }, { name: 'queued', xml: owned('queued') }];
    const err = (await bootVms(f.node, domains, { parallel: 1, deadlineMs: 50, log: silentLog }).catch((e: unknown) => e)) as BootError;
    expect(err.failures.map((x) => x.name)).toEqual(['slow', 'queued']);
    expect(f.calls).toEqual(['define slow']);
  });

  it('refuses XML without our owner metadata before touching libvirt', async () => {
    const f = fakeNode();
    await expect(bootVms(f.node, [{ name: 'x', xml: "<domain type='test'><name>x</name></domain>" }], { parallel: 1, deadlineMs: 1000, log: silentLog })).rejects.toThrow(/without vTorque owner metadata/);
    expect(f.calls).toEqual([]);
  });
});
