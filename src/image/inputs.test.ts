import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isCurrent } from './build-image.js';
import { IMAGE_KERNEL_CMDLINE, IMAGE_PACKAGES, imageArtifacts, imageInputs, inputsHash, TUNED_KERNEL_CMDLINE } from './inputs.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'vtq-image-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('image inputs', () => {
  it('names the required packages and never sudo', () => {
    expect(IMAGE_PACKAGES).toContain('python3-cffi-backend');
    expect(IMAGE_PACKAGES).toContain('linux-image-cloud-amd64');
    expect(IMAGE_PACKAGES).not.toContain('sudo');
  });

  it('hashes stably and changes with any input', () => {
    const base = imageInputs();
    expect(inputsHash(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(inputsHash({ ...base })).toBe(inputsHash(base));
    expect(inputsHash({ ...base, packages: [...base.packages, 'vim'] })).not.toBe(inputsHash(base));
    expect(inputsHash({ ...base, customisationVersion: 'x' })).not.toBe(inputsHash(base));
    expect(inputsHash({ ...base, builderVersion: 'x' })).not.toBe(inputsHash(base));
  });

  it('keeps the tuned and the plain profile apart (the boot bench builds both)', () => {
    const tuned = imageInputs();
    const plain = imageInputs('plain');
    expect(tuned.profile).toBe('tuned');
    expect(inputsHash(plain)).not.toBe(inputsHash(tuned));
    expect(tuned.packages).toContain('lz4');
    expect(tuned.packages).not.toContain('ifupdown');
    expect(plain.packages).toEqual(expect.arrayContaining(['ifupdown', 'isc-dhcp-client']));
    expect(TUNED_KERNEL_CMDLINE.startsWith(IMAGE_KERNEL_CMDLINE)).toBe(true);
    expect(TUNED_KERNEL_CMDLINE).toMatch(/\bquiet\b/);
  });

  it('is current only with every output and a matching hash', () => {
    const out = tmp();
    const a = imageArtifacts(out);
    expect(a.vmlinuz).toBe(join(out, 'debian-12-x86_64.qcow2.vmlinuz'));
    expect(a.cmdline).toBe(join(out, 'debian-12-x86_64.qcow2.cmdline'));
    for (const f of [a.qcow2, a.vmlinuz, a.initrd, a.cmdline]) writeFileSync(f, 'x');
    expect(isCurrent(a, 'abc')).toBe(false);
    writeFileSync(a.inputsSha256, 'abc\n');
    expect(isCurrent(a, 'abc')).toBe(true);
    expect(isCurrent(a, 'abd')).toBe(false);
    rmSync(a.cmdline);
    expect(isCurrent(a, 'abc')).toBe(false);
    writeFileSync(a.cmdline, 'x');
    rmSync(a.initrd);
    expect(isCurrent(a, 'abc')).toBe(false);
  });
});
