import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VtorqueError } from '../../src/core/errors.js';
import type { NodeAccess, RevivedVm } from '../../src/engine/index.js';
import { waitUntilReachable } from '../../src/engine/head/readiness.js';
import { Timeline } from '../../src/engine/timeline.js';
import { startInput } from './engine-harness.js';
import { config, recordLog, testPlan } from './helpers.js';

// The head's wait for addresses over a node whose VM never gets one: its qemu stops during the
// boot (the node reports it shut off), is started again once, and stops again.
function waitOn(reviveVms: NodeAccess['reviveVms'], deadlineMs: number) {
  const plan = testPlan('501.srv', ['n01'], 1);
  const node: NodeAccess = {
    name: 'n01',
    domainType: 'qemu',
    reserve: async () => Promise.reject(new Error('not asked')),
    readNeighbours: async () => '',
    leases: null,
    consoleSize: () => null,
    reviveVms,
    writeVmRecords: async () => undefined,
    stopVms: async () => ({ domains: [], files: [], arp: [] }),
  };
  const lines: string[] = [];
  const log = recordLog();
  const head = { config: { ...config, SPOOL_DIR: mkdtempSync(join(tmpdir(), 'vtq-readiness-')) }, log };
  const wait = waitUntilReachable(startInput('501.srv', '/opt/vm-images/debian-12-x86_64.qcow2'), head, {
    plan,
    nodes: [node],
    vm: (name) => ({ name, hostKeyPublic: 'ssh-ed25519 AAAA', fastSeed: true, persistentDisk: false, node, key: Buffer.from('k') }),
    booted: new Map([['n01', { bootSince: Date.now(), stale: new Set<string>() }]]),
    startedAt: performance.now(),
    deadlineAt: performance.now() + deadlineMs,
    t: new Timeline(),
    say: (l) => lines.push(l),
    reviveEveryMs: 50,
  });
  return { wait, lines, log, vm: plan.vms[0]?.name as string };
}

describe('waitUntilReachable: a VM whose qemu stops during the boot', () => {
  it('is started again once; stopping again fails the start at once as a node fault naming the VM, its node and its qemu log', async () => {
    const asked: string[][] = [];
    let calls = 0;
    const { wait, lines, log, vm } = waitOn(async (vms) => {
      asked.push([...vms]);
      const action = ++calls === 1 ? 'started-again' : 'given-up';
      return vms.map((name): RevivedVm => ({ vm: name, state: 'shutoff', action, qemuLog: `/var/log/libvirt/qemu/${name}.log` }));
    }, 60_000);
    const t0 = performance.now();
    const err = await wait.catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(5000); // not the quiet limit (TIMEOUT: no boot measured)
    expect(err).toBeInstanceOf(VtorqueError);
    expect((err as VtorqueError).fault).toBe('node');
    expect((err as Error).message).toBe(`VM ${vm} on node n01: its qemu stopped during the boot twice; see the domain's qemu log /var/log/libvirt/qemu/${vm}.log`);
    expect(asked.slice(0, 2)).toEqual([[vm], [vm]]);
    expect(lines).toContain(`n01 ${vm}: its qemu stopped during the boot (shut off); started it again (once)`);
    expect(log.lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      `n01 ${vm}: its qemu stopped during the boot (shut off); started it again (once)`,
      `n01 ${vm}: its qemu stopped during the boot twice; see the domain's qemu log /var/log/libvirt/qemu/${vm}.log`,
    ]);
  });

  it('a node that cannot say is logged and the wait goes on to its own end', async () => {
    const { wait, log } = waitOn(async () => Promise.reject(new Error('injected: agent busy')), 600);
    await expect(wait).rejects.toThrow(/no IP address after \d+ ms for 1 VM\(s\)/);
    const warned = log.lines.filter((l) => l.msg === 'could not ask the node which of its VMs are not running');
    expect(warned.length).toBeGreaterThan(0);
    expect(warned[0]?.fields).toMatchObject({ node: 'n01', err: 'injected: agent busy' });
  });
});
