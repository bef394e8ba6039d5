import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { VtorqueError } from '../../src/core/errors.js';
import type { NodeAccess, RevivedVm } from '../../src/engine/index.js';
import { waitUntilReachable } from '../../src/engine/head/readiness.js';
import { Timeline } from '../../src/engine/timeline.js';
import { startInput } from './engine-harness.js';
import { config, recordLog, testPlan } from './helpers.js';

// The head's wait for addresses and SSH over one fake node of one VM: `fake` replaces what the
// node answers, `extra` what the head is given (keys, SSH port, intervals).
type Extra = { config?: Partial<typeof config>; key?: Buffer; hostKey?: string; sshPort?: number; cpuEveryMs?: number };
function waitOn(reviveVms: NodeAccess['reviveVms'], deadlineMs: number, fake: Partial<NodeAccess> = {}, extra: Extra = {}) {
  const plan = testPlan('501.srv', ['n01'], 1);
  const node: NodeAccess = {
    name: 'n01',
    domainType: 'qemu',
    reserve: async () => Promise.reject(new Error('not asked')),
    readNeighbours: async () => '',
    leases: null,
    consoleSize: () => null,
    cpuTimes: async (vms) => vms.map(() => null),
    reviveVms,
    writeVmRecords: async () => undefined,
    stopVms: async () => ({ domains: [], files: [], arp: [] }),
    ...fake,
  };
  const lines: string[] = [];
  const log = recordLog();
  const head = { config: { ...config, SPOOL_DIR: mkdtempSync(join(tmpdir(), 'vtq-readiness-')), ...extra.config }, log };
  const wait = waitUntilReachable(startInput('501.srv', '/opt/vm-images/debian-12-x86_64.qcow2'), head, {
    plan,
    nodes: [node],
    vm: (name) => ({ name, hostKeyPublic: extra.hostKey ?? 'ssh-ed25519 AAAA', fastSeed: true, persistentDisk: false, node, key: extra.key ?? Buffer.from('k') }),
    booted: new Map([['n01', { bootSince: Date.now(), stale: new Set<string>() }]]),
    startedAt: performance.now(),
    deadlineAt: performance.now() + deadlineMs,
    t: new Timeline(),
    say: (l) => lines.push(l),
    reviveEveryMs: 50,
    ...(extra.sshPort === undefined ? {} : { sshPort: extra.sshPort }),
    ...(extra.cpuEveryMs === undefined ? {} : { cpuEveryMs: extra.cpuEveryMs }),
  });
  return { wait, lines, log, vm: plan.vms[0]?.name as string, mac: plan.vms[0]?.mac as string };
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

/** An SSH server on 127.0.0.1 that lets any key in (the guest's sshd once it is up); its host key. */
async function guestSshd(): Promise<{ port: number; hostKey: string; userKey: Buffer; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'vtq-readiness-ssh-'));
  for (const f of ['host', 'user']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', f, '-f', join(dir, f)]);
  const server = new ssh2.Server({ hostKeys: [readFileSync(join(dir, 'host'))] }, (client) => {
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => client.on('session', (accept) => accept().once('exec', (ok) => ok().exit(0))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, hostKey: readFileSync(join(dir, 'host.pub'), 'utf8').trim(), userKey: readFileSync(join(dir, 'user')), close: () => server.close() };
}

describe('waitUntilReachable: a VM whose console stays silent while its qemu computes', () => {
  it('is not given up at its quiet limit while its CPU time grows; it gets its address and the start succeeds', async () => {
    const sshd = await guestSshd();
    try {
      const t0 = performance.now();
      let arp = '';
      const asked: string[][] = [];
      // No measured boot: the quiet limit is TIMEOUT, 0.5 s; the address comes after 1.5 s of a busy qemu with nothing on its console.
      const { wait, lines, mac, vm } = waitOn(async () => [], 20_000, {
        readNeighbours: async () => arp,
        cpuTimes: async (vms) => (asked.push([...vms]), vms.map(() => (performance.now() - t0) / 3)), // a third of a core
      }, { config: { TIMEOUT: 0.5, SSH_TIMEOUT: 5 }, key: sshd.userKey, hostKey: sshd.hostKey, sshPort: sshd.port, cpuEveryMs: 40 });
      setTimeout(() => {
        arp = `IP address       HW type     Flags       HW address            Mask     Device\n127.0.0.1        0x1         0x2         ${mac}     *        vnet0\n`;
      }, 1500);
      const ips = await wait;
      expect(ips.get(mac)).toBe('127.0.0.1');
      expect(performance.now() - t0).toBeGreaterThan(1500);
      expect(asked[0]).toEqual([vm]);
      expect(lines.join('\n')).not.toMatch(/no sign of life/);
    } finally {
      sshd.close();
    }
  }, 30_000);

  it('one whose qemu does not compute either is given up at its quiet limit', async () => {
    const { wait } = waitOn(async () => [], 20_000, { cpuTimes: async (vms) => vms.map(() => 1234) }, { config: { TIMEOUT: 0.5 }, cpuEveryMs: 40 });
    const t0 = performance.now();
    await expect(wait).rejects.toThrow(/no sign of life for 0\.\d s \(last: started;/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
