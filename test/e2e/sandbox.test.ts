import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec/run.js';
import { inSandbox, sandboxDown, sandboxStatus, sandboxUp, sandboxUri, type SandboxOptions, type SandboxStatus } from '../../src/sandbox/index.js';

const isRoot = process.getuid?.() === 0;
const opts: SandboxOptions = {
  name: 'vtqe2e',
  // Persistent, so libvirt's QEMU capability cache survives between runs.
  stateDir: process.env.VTQ_TEST_SANDBOX_DIR ?? '/var/tmp/vtorque-e2e/sandbox',
  network: { name: 'vtq-e2e-net', bridge: 'vtqe2ebr0', subnet: '10.213.9' },
  log: (line) => process.stderr.write(`[sandbox ${new Date().toISOString().slice(11, 23)}] ${line}\n`),
};

/** A pid is gone when /proc has no live (non-zombie) process for it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

async function netnsPids(): Promise<number[]> {
  const res = await run('ip', ['netns', 'pids', 'vtqe2e'], { timeoutMs: 10_000, reject: false });
  return res.stdout.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number).filter(alive);
}

function expectRunning(st: SandboxStatus): void {
  expect(st.running).toBe(true);
  expect(st.netns).toBe(true);
  expect(st.pids.libvirtd).toBeGreaterThan(1);
  expect(st.pids.virtlogd).toBeGreaterThan(1);
  expect(st.network).toMatchObject({ active: true, bridgeInNetns: true, bridgeInRootNs: false, address: '10.213.9.1/24' });
  expect(st.hypervisor).toBe('qemu');
}

describe.skipIf(!isRoot)('vtorque sandbox (slow: real libvirtd in a netns)', () => {
  afterAll(async () => {
    // Whatever failed above, leave nothing running and no namespace behind.
    await sandboxDown({ ...opts, deleteNetns: true });
  }, 120_000);

  it('up, status, net-list, down (nothing left), up again (twice), down (twice)', async () => {
    const up = await sandboxUp(opts);
    expectRunning(up);
    const uri = sandboxUri(opts);
    expect(up.uri).toBe(uri);
    expect(uri).toMatch(/^qemu:\/\/\/system\?socket=\/.+\/run\/libvirt-sock$/);
    expectRunning(await sandboxStatus(opts));

    const nets = await run('virsh', ['-c', uri, 'net-list', '--all'], { timeoutMs: 30_000 });
    expect(nets.stdout).toMatch(/^\s*vtq-e2e-net\s+active\s/m);
    expect(nets.stdout).not.toMatch(/^\s*default\s/m);

    // The bridge lives only in the netns; the root namespace does not even know the name.
    expect((await run('ip', ['link', 'show', 'vtqe2ebr0'], { timeoutMs: 10_000, reject: false })).exitCode).not.toBe(0);
    const [file, ...args] = inSandbox('vtqe2e', 'ip', ['-j', '-4', 'addr', 'show', 'dev', 'vtqe2ebr0']);
    expect(JSON.parse((await run(file as string, args, { timeoutMs: 10_000 })).stdout)[0].addr_info[0].local).toBe('10.213.9.1');
    // The daemons' sockets are the sandbox's own, not the system's.
    expect(existsSync(uri.slice(uri.indexOf('socket=') + 7))).toBe(true);

    const started = [up.pids.libvirtd as number, up.pids.virtlogd as number, ...(await netnsPids())];
    expect(started.length).toBeGreaterThanOrEqual(3); // + dnsmasq
    const down = await sandboxDown(opts);
    expect(down.running).toBe(false);
    expect(down.pids).toEqual({ libvirtd: null, virtlogd: null });
    for (const pid of started) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(await netnsPids()).toEqual([]);
    expect((await sandboxDown(opts)).running).toBe(false); // idempotent

    const again = await sandboxUp(opts);
    expectRunning(again);
    const twice = await sandboxUp(opts); // idempotent: the same daemons
    expect(twice.pids).toEqual(again.pids);
    await sandboxDown(opts);
    const last = await sandboxDown(opts);
    expect(last.running).toBe(false);
    for (const pid of [again.pids.libvirtd as number, again.pids.virtlogd as number]) expect(alive(pid)).toBe(false);
    expect(await netnsPids()).toEqual([]);
  });
});
