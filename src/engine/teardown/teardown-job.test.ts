import { describe, expect, it } from 'vitest';
import { LibvirtError, silentLog, type DomainRunState, type LibvirtNode } from '../libvirt/index.js';
import { teardownJob, TeardownError } from './teardown-job.js';

const owned = (job: string) => `<domain><metadata><vtq:job xmlns:vtq="urn:x-vtorque:job:1" id="${job}" owner="a" node="n" index="1"/></metadata></domain>`;
const gone = (op: 'destroy' | 'undefine' | 'xml', name: string) =>
  new LibvirtError({ op, domain: name, uri: 'fake:///', cause: new Error(`Domain not found: no domain with matching uuid 'x' (${name})`) });

function fakeNode(states: Record<string, DomainRunState>, fail: Partial<Record<'destroy' | 'undefine' | 'shutdown', string>> = {}) {
  const calls: string[] = [];
  const node: LibvirtNode = {
    uri: 'fake:///',
    listDomains: async () => Object.keys(states).map((name) => ({ name, active: states[name] === 'running' })),
    xmlOf: async (n) => {
      if (states[n] === 'missing') throw gone('xml', n);
      return owned('7.srv');
    },
    define: async () => undefined,
    start: async () => undefined,
    shutdown: async (n) => void calls.push(`shutdown ${n}`), // the guest ignores ACPI
    destroy: async (n) => {
      calls.push(`destroy ${n}`);
      if (fail.destroy === n) throw new Error('Failed to terminate process 123 with SIGKILL: Device or resource busy');
      states[n] = 'shutoff';
    },
    undefine: async (n) => {
      calls.push(`undefine ${n}`);
      if (states[n] === 'missing') throw gone('undefine', n);
      states[n] = 'missing';
    },
    state: async (n) => states[n] ?? 'missing',
    cpuTimeMs: async () => null,
    close: async () => undefined,
  };
  return { node, calls };
}

describe('teardownJob', () => {
  it('tries every VM, then reports the ones it could not remove', async () => {
    const f = fakeNode({ 'vtq-7.srv-n-1': 'running', 'vtq-7.srv-n-2': 'running', 'vtq-7.srv-n-3': 'running' }, { destroy: 'vtq-7.srv-n-2' });
    const err = (await teardownJob(f.node, '7.srv', { graceful: new Set(), shutdownTimeoutMs: 100, parallel: 1, log: silentLog }).catch((e: unknown) => e)) as TeardownError;
    expect(err).toBeInstanceOf(TeardownError);
    expect(err.message).toMatch(/^teardown left 1 VM\(s\): vtq-7.srv-n-2: Failed to terminate/);
    expect(err.result.removed).toEqual(['vtq-7.srv-n-1', 'vtq-7.srv-n-3']);
  });

  it('a guest ignoring shutdown is destroyed after the timeout; vanished domains count as removed', async () => {
    const f = fakeNode({ 'vtq-7.srv-n-1': 'running', 'vtq-7.srv-n-2': 'missing' });
    const t0 = performance.now();
    const result = await teardownJob(f.node, '7.srv', { graceful: new Set(['vtq-7.srv-n-1']), shutdownTimeoutMs: 300, pollMs: 50, parallel: 2, log: silentLog });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(f.calls).toEqual(['shutdown vtq-7.srv-n-1', 'destroy vtq-7.srv-n-1', 'undefine vtq-7.srv-n-1']);
    expect(result).toEqual({ removed: ['vtq-7.srv-n-1'], skipped: [], macs: [] });
  });
});
