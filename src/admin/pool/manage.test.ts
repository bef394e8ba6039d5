import { existsSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listPoolImages } from '../../core/pool/images.js';
import { addImage, deleteImage, updateImage } from './manage.js';

describe.skipIf(process.geteuid?.() !== 0)('image pool management (root)', () => {
  it('adds an image with its kernel and initrd as root:root 0444, lists, updates and deletes it', () => {
    const src = mkdtempSync(join(tmpdir(), 'vtq-src-'));
    const pool = join(mkdtempSync(join(tmpdir(), 'vtq-pool-')), 'images');
    const img = join(src, 'debian-12-x86_64.qcow2');
    for (const f of [img, `${img}.vmlinuz`, `${img}.initrd`]) writeFileSync(f, 'x');
    expect(addImage(pool, img, 'first')).toHaveLength(3);
    for (const f of ['debian-12-x86_64.qcow2', 'debian-12-x86_64.qcow2.vmlinuz', 'debian-12-x86_64.qcow2.initrd', 'debian-12-x86_64.qcow2.info']) {
      const st = statSync(join(pool, f));
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o444]);
    }
    updateImage(pool, 'debian-12-x86_64.qcow2', 'second\nline');
    expect(listPoolImages(pool).map((i) => [i.name, i.description])).toEqual([['debian-12-x86_64.qcow2', 'second line']]);
    deleteImage(pool, 'debian-12-x86_64.qcow2');
    expect(existsSync(join(pool, 'debian-12-x86_64.qcow2.vmlinuz'))).toBe(false);
    expect(listPoolImages(pool)).toEqual([]);
  });

  it("copies the image's kernel command line with its kernel and initrd, never alone", () => {
    const src = mkdtempSync(join(tmpdir(), 'vtq-src-'));
    const pool = join(mkdtempSync(join(tmpdir(), 'vtq-pool-')), 'images');
    const img = join(src, 'tuned.qcow2');
    for (const f of [img, `${img}.vmlinuz`, `${img}.initrd`, `${img}.cmdline`]) writeFileSync(f, 'x');
    expect(addImage(pool, img, '')).toHaveLength(4);
    expect(statSync(join(pool, 'tuned.qcow2.cmdline')).mode & 0o7777).toBe(0o444);
    const lone = join(src, 'lone.qcow2');
    for (const f of [lone, `${lone}.cmdline`]) writeFileSync(f, 'x');
    expect(addImage(pool, lone, '')).toHaveLength(1);
    expect(existsSync(join(pool, 'lone.qcow2.cmdline'))).toBe(false);
    deleteImage(pool, 'tuned.qcow2');
    expect(existsSync(join(pool, 'tuned.qcow2.cmdline'))).toBe(false);
  });

  it('refuses links and bad names; symlinks in the pool are not images', () => {
    const src = mkdtempSync(join(tmpdir(), 'vtq-src-'));
    const pool = mkdtempSync(join(tmpdir(), 'vtq-pool-'));
    writeFileSync(join(src, 'real.qcow2'), 'x');
    symlinkSync(join(src, 'real.qcow2'), join(src, 'link.qcow2'));
    expect(() => addImage(pool, join(src, 'link.qcow2'), '')).toThrow(/regular file/);
    expect(() => addImage(pool, join(src, 'real.qcow2'), '', '../escape.qcow2')).toThrow(/image name/);
    symlinkSync('/etc/shadow', join(pool, 'shadow.img'));
    expect(listPoolImages(pool)).toEqual([]);
  });
});
