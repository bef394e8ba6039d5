import { lstatSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/core/exec/run.js';
import { buildImage, imageInputs, inputsHash } from '../../src/image/index.js';

// Persistent on purpose: later runs (and the VM tests) reuse the image instead of rebuilding it.
const OUT = process.env.VTQ_TEST_IMAGE_DIR ?? '/var/cache/vtorque/test-image';
const DEB_CACHE = process.env.VTQ_TEST_DEB_CACHE ?? '/var/cache/vtorque';
const isRoot = process.getuid?.() === 0;
const log = (line: string): void => {
  process.stderr.write(`[image ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

describe.skipIf(!isRoot)('vtorque image build (slow: debootstrap on a cold cache)', () => {
  it('builds, or reuses, a valid qcow2 with kernel, initrd and inputs hash', async () => {
    const res = await buildImage({ outDir: OUT, cacheDir: DEB_CACHE, log });
    const a = res.artifacts;
    for (const file of [a.qcow2, a.vmlinuz, a.initrd, a.inputsSha256]) expect(lstatSync(file).isFile(), file).toBe(true);
    expect(statSync(a.vmlinuz).size).toBeGreaterThan(4 * 2 ** 20);
    expect(statSync(a.initrd).size).toBeGreaterThan(4 * 2 ** 20);
    expect(readFileSync(a.inputsSha256, 'utf8').trim()).toBe(inputsHash(imageInputs()));

    const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', a.qcow2], { timeoutMs: 30_000 })).stdout) as {
      format: string;
      'virtual-size': number;
      'backing-filename'?: string;
    };
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(2 * 2 ** 30);
    expect(info['backing-filename']).toBeUndefined();
    await run('qemu-img', ['check', '-U', a.qcow2], { timeoutMs: 60_000 });
  });

  it('a second build is a cache hit in under 2 s', async () => {
    const lines: string[] = [];
    const t = performance.now();
    const res = await buildImage({ outDir: OUT, cacheDir: DEB_CACHE, log: (l) => lines.push(l) });
    const ms = performance.now() - t;
    expect(res.cached).toBe(true);
    expect(ms).toBeLessThan(2000);
    expect(lines.join('\n')).toMatch(/up to date/);
  });
});
