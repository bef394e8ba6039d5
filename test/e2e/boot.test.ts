import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../src/core/exec/which.js';
import { run } from '../../src/core/exec/run.js';
import { buildImage } from '../../src/image/index.js';
import { inSandbox, sandboxDown, sandboxUp, type SandboxOptions } from '../../src/sandbox/index.js';
import { arpAddress, prepareSmokeGuest, sshArgs, type SmokeGuest } from './helpers/smoke-guest.js';

const NS = 'vtqboot';
const WORK = process.env.VTQ_TEST_BOOT_DIR ?? '/var/tmp/vtorque-e2e/boot';
const IMAGE_DIR = process.env.VTQ_TEST_IMAGE_DIR ?? '/var/cache/vtorque/test-image';
const opts: SandboxOptions = {
  name: NS,
  stateDir: join(WORK, 'sandbox'),
  network: { name: 'vtq-boot-net', bridge: 'vtqbootbr0', subnet: '10.213.8' },
  log: (line) => process.stderr.write(`[boot ${new Date().toISOString().slice(11, 23)}] ${line}\n`),
};
const log = opts.log as (line: string) => void;
const canRun = process.getuid?.() === 0 && ['cloud-localds', 'ssh', 'ssh-keygen'].every((f) => findExecutable(f) !== null);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function poll<T>(what: string, bound: number, ms: number, fn: () => Promise<T | null>): Promise<T> {
  const deadline = performance.now() + bound;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${bound / 1000} s`);
    await sleep(ms);
  }
}

describe.skipIf(!canRun)('a job guest boots in the sandbox (slow: TCG boot, about a minute)', () => {
  let uri = '';
  let guest: SmokeGuest | null = null;
  afterAll(async () => {
    if (guest && uri) await run('virsh', ['-c', uri, 'destroy', guest.name], { timeoutMs: 30_000, reject: false });
    await sandboxDown({ ...opts, deleteNetns: true });
  }, 120_000);

  it('gets a DHCP address on the sandbox network and answers SSH with the seeded key', async () => {
    const image = await buildImage({ outDir: IMAGE_DIR, cacheDir: '/var/cache/vtorque', log });
    uri = (await sandboxUp(opts)).uri;
    guest = await prepareSmokeGuest(join(WORK, 'guest'), image.artifacts, 'vtq-boot-net');
    const g = guest;
    const t0 = performance.now();
    const since = (): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
    await run('virsh', ['-c', uri, 'create', join(g.dir, 'domain.xml')], { timeoutMs: 60_000 });
    log(`virsh create returned after ${since()} (${g.name}, mac ${g.mac})`);

    const ip = await poll('ARP entry for the guest', 180_000, 500, () => arpAddress(NS, g.mac));
    log(`ARP: ${g.mac} -> ${ip} after ${since()}`);
    expect(ip).toMatch(/^10\.213\.8\.(1\d\d)$/);

    const [sshFile, ...sshPrefix] = inSandbox(NS, 'ssh', []);
    // Generous bounds: under TCG on a busy 2-core host cloud-init can take minutes after SSH is up.
    const ssh = (cmd: readonly string[], reject = true, timeoutMs = 60_000): ReturnType<typeof run> =>
      run(sshFile as string, [...sshPrefix, ...sshArgs(g, ip, cmd)], { timeoutMs, reject });
    await poll('SSH login', 180_000, 1000, async () => ((await ssh(['true'], false)).exitCode === 0 ? true : null));
    log(`SSH login after ${since()}`);
    expect((await ssh(['hostname'])).stdout.trim()).toBe('smoke1');
    expect((await ssh(['id', '-un'])).stdout.trim()).toBe('job');
    expect((await ssh(['sh', '-c', 'command -v sudo || echo none'])).stdout.trim()).toBe('none');
    const ci = await ssh(['cloud-init', 'status', '--wait'], false, 600_000);
    log(`cloud-init: ${ci.stdout.trim().split('\n').pop() ?? ''} after ${since()}`);
    expect(ci.stdout).toMatch(/status: done/);
    // The guest reaches nothing but the bridge: the sandbox network has no <forward>.
    expect((await ssh(['ip', 'route'])).stdout).not.toMatch(/default via/);
  });
});
