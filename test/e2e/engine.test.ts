import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, IMAGE_BASENAME } from '../../src/image/index.js';
import { inSandbox, sandboxDown, sandboxUp, type SandboxOptions } from '../../src/sandbox/index.js';

// The node engine on a real TCG guest: libvirtd in a network namespace this test creates, an
// isolated libvirt network, the Debian image from `vtorque image build`, SSH with the pinned host key.
const WORK = '/var/tmp/vtorque-e2e/engine';
const IMAGE_DIR = process.env.VTQ_TEST_IMAGE_DIR ?? '/var/cache/vtorque/test-image';
const opts: SandboxOptions = {
  name: 'vtqeng',
  stateDir: join(WORK, 'sandbox'),
  network: { name: 'vtq-eng-net', bridge: 'vtqengbr0', subnet: '10.213.9' },
  log: (line) => process.stderr.write(`[engine-e2e] ${line}\n`),
};
const canRun = process.getuid?.() === 0;
let uri = '';

beforeAll(async () => {
  mkdirSync(WORK, { recursive: true });
  await buildImage({ outDir: IMAGE_DIR, cacheDir: '/var/cache/vtorque', log: (l) => process.stderr.write(`[image] ${l}\n`) });
  uri = (await sandboxUp(opts)).uri;
}, 15 * 60_000);

afterAll(async () => {
  await sandboxDown({ ...opts, deleteNetns: true });
}, 120_000);

function drive(jobId: string, vmsPerNode: number): Record<string, unknown> {
  const spool = join(WORK, `spool-${jobId}`);
  const ramdisk = join(WORK, `ramdisk-${jobId}`);
  mkdirSync(spool, { recursive: true, mode: 0o755 });
  mkdirSync(ramdisk, { recursive: true, mode: 0o755 });
  const inputFile = join(WORK, `${jobId}.json`);
  writeFileSync(inputFile, JSON.stringify({ uri, network: opts.network?.name, spool, ramdisk, image: join(IMAGE_DIR, IMAGE_BASENAME), jobId, vmsPerNode, command: `uname -sr; id -u; id -g; hostname; cat /var/spool/torque/vm/job.env; cat /var/spool/torque/aux/${jobId}` }));
  const driver = new URL('./helpers/engine-driver.ts', import.meta.url).pathname;
  const [file, ...args] = inSandbox('vtqeng', process.execPath, ['--import', 'tsx', driver]);
  const r = spawnSync(file as string, args, { env: { ...process.env, VTQ_DRIVER_INPUT: inputFile }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 10 * 60_000 });
  rmSync(inputFile, { force: true });
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return JSON.parse(last) as Record<string, unknown>;
}

describe.skipIf(!canRun)('engine on a real TCG guest (slow tier)', () => {
  it('boots a pinned guest to SSH with the pinned host key, runs a command as the owner, tears down without leftovers', () => {
    const r = drive('801.e2e', 1);
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    const output = String(r.output);
    expect(output).toMatch(/^Linux 6\.1\./);
    expect(output).toMatch(/\n2000\n2000\nv[a-z0-9-]+-1\n/);
    expect(output).toContain("PBS_JOBNAME='it'\\''s $(a) job'");
    const ip = (r.vms as { ip: string }[])[0]?.ip as string;
    expect(output.endsWith(`${ip}\n`)).toBe(true);
    expect(r.pins).toEqual([expect.stringContaining("cpuset='1'")]);
    expect((r.timeline as { phase: string }[]).map((m) => m.phase)).toEqual(['plan', 'prepare', 'boot', 'ip', 'ssh', 'nodefile']);
    expect(r.leftover).toEqual([]);
    expect((r.stop as { domains: string[] }).domains).toHaveLength(1);
    process.stderr.write(`[engine-e2e] ready after ${Math.round(Number(r.readyMs) / 1000)} s: ${JSON.stringify(r.timeline)}\n`);
  });
});
