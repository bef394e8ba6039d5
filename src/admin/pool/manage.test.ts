import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listPoolImages } from '../../core/pool/images.js';
import { addImage, deleteImage, requireRoot, updateImage } from './manage.js';
import { readImageMeta } from './meta.js';
import { freeUse, qemuImgCreate, tempSite, removeTempSites } from './pool.fixture.js';
import type { ImageUse } from './usage.js';

afterAll(removeTempSites);

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const usedBy = (image: string, jobId: string, running = true): ImageUse => ({
  image,
  users: [{ jobId, owner: 'alice', vms: [{ name: `vtq-${jobId}-n1-0`, running }], recorded: true, blocking: true }],
  unknown: null,
});

describe('requireRoot', () => {
  it('refuses a write command without root in one line naming it', () => {
    expect(() => requireRoot('delete', 1000)).toThrow(expect.objectContaining({ code: 'PERMISSION', fault: 'job', message: 'vmgr delete changes the root-owned image pool: run it as root' }));
    expect(() => requireRoot('delete', 0)).not.toThrow();
  });
});

describe.skipIf(process.geteuid?.() !== 0)('image pool management (root)', () => {
  it('adds an image with its kernel and initrd as root:root 0444, lists, updates and deletes it', () => {
    const { src, root } = tempSite();
    const pool = join(root, 'new-pool');
    const img = join(src, 'debian-12-x86_64.qcow2');
    for (const f of [img, `${img}.vmlinuz`, `${img}.initrd`]) writeFileSync(f, 'x');
    expect(addImage(pool, img, 'first')).toHaveLength(3);
    for (const f of ['debian-12-x86_64.qcow2', 'debian-12-x86_64.qcow2.vmlinuz', 'debian-12-x86_64.qcow2.initrd', 'debian-12-x86_64.qcow2.info', 'debian-12-x86_64.qcow2.meta.json']) {
      const st = statSync(join(pool, f));
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o444]);
    }
    updateImage(pool, 'debian-12-x86_64.qcow2', 'second\nline');
    expect(listPoolImages(pool).map((i) => [i.name, i.description])).toEqual([['debian-12-x86_64.qcow2', 'second line']]);
    deleteImage(pool, 'debian-12-x86_64.qcow2', freeUse('debian-12-x86_64.qcow2'));
    expect(readdirSync(pool)).toEqual([]);
    expect(listPoolImages(pool)).toEqual([]);
  });

  it("copies the image's kernel command line with its kernel and initrd, never alone", () => {
    const { src, root } = tempSite();
    const pool = join(root, 'new-pool');
    const img = join(src, 'tuned.qcow2');
    for (const f of [img, `${img}.vmlinuz`, `${img}.initrd`, `${img}.cmdline`]) writeFileSync(f, 'x');
    expect(addImage(pool, img, '')).toHaveLength(4);
    expect(statSync(join(pool, 'tuned.qcow2.cmdline')).mode & 0o7777).toBe(0o444);
    const lone = join(src, 'lone.qcow2');
    for (const f of [lone, `${lone}.cmdline`]) writeFileSync(f, 'x');
    expect(addImage(pool, lone, '')).toHaveLength(1);
    expect(existsSync(join(pool, 'lone.qcow2.cmdline'))).toBe(false);
    deleteImage(pool, 'tuned.qcow2', freeUse('tuned.qcow2'));
    expect(existsSync(join(pool, 'tuned.qcow2.cmdline'))).toBe(false);
  });

  it('refuses links, non-regular sources and bad names; symlinks in the pool are not images', () => {
    const { src, pool } = tempSite();
    writeFileSync(join(src, 'real.qcow2'), 'x');
    symlinkSync(join(src, 'real.qcow2'), join(src, 'link.qcow2'));
    mkdirSync(join(src, 'dir.qcow2'));
    execFileSync('mkfifo', [join(src, 'fifo.qcow2')]);
    expect(() => addImage(pool, join(src, 'link.qcow2'), '')).toThrow(/link\.qcow2 is a symbolic link, directory, FIFO or device: expected a regular file/);
    expect(() => addImage(pool, join(src, 'dir.qcow2'), '')).toThrow(/expected a regular file/);
    expect(() => addImage(pool, join(src, 'fifo.qcow2'), '')).toThrow(/expected a regular file/);
    expect(() => addImage(pool, join(src, 'none.qcow2'), '')).toThrow(/none\.qcow2 does not exist: expected a regular file/);
    expect(() => addImage(pool, join(src, 'real.qcow2'), '', '../escape.qcow2')).toThrow(expect.objectContaining({ fault: 'job', message: expect.stringMatching(/^image name "\.\.\/escape\.qcow2": expected a file name ending \.img, \.qcow2 or \.raw$/) }));
    expect(() => addImage(pool, join(src, 'real.qcow2'), '', 'real.iso')).toThrow(/image name "real\.iso"/);
    expect(readdirSync(pool)).toEqual([]);
    symlinkSync('/etc/shadow', join(pool, 'shadow.img'));
    expect(listPoolImages(pool)).toEqual([]);
  });

  it('records the sha256 of the bytes it copied (computed while copying), keeps a sparse image sparse and leaves no temporary file', () => {
    const site = tempSite();
    const img = join(site.src, 'sparse.raw');
    qemuImgCreate(img, 'raw', '24M');
    writeFileSync(join(site.src, 'data.qcow2'), Buffer.alloc(5 << 20, 7));
    addImage(site.pool, img, 'a raw image');
    addImage(site.pool, join(site.src, 'data.qcow2'), undefined);
    for (const name of ['sparse.raw', 'data.qcow2']) {
      const read = readImageMeta(site.pool, name);
      expect(read.state).toBe('ok');
      if (read.state !== 'ok') continue;
      const st = statSync(join(site.pool, name));
      expect(read.meta).toMatchObject({ version: 1, image: name, sha256: sha256(join(site.src, name)), sizeBytes: st.size, mtimeMs: st.mtimeMs, source: join(site.src, name), boot: {} });
      expect(sha256(join(site.pool, name))).toBe(read.meta.sha256);
    }
    expect(statSync(join(site.pool, 'sparse.raw')).blocks * 512).toBeLessThan(1 << 20);
    expect(readdirSync(site.pool).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(readFileSync(join(site.pool, 'sparse.raw.meta.json'), 'utf8').trimEnd().split('\n')).toHaveLength(1);
  });

  it('refuses an image the engine would refuse at every start (a backing file), before anything is in the pool', () => {
    const site = tempSite();
    qemuImgCreate(join(site.src, 'base.qcow2'), 'qcow2', '16M');
    qemuImgCreate(join(site.src, 'overlay.qcow2'), 'qcow2', '16M', join(site.src, 'base.qcow2'));
    expect(() => addImage(site.pool, join(site.src, 'overlay.qcow2'), '')).toThrow(expect.objectContaining({ fault: 'job', message: expect.stringMatching(/^image source .*overlay\.qcow2 has a backing file: expected a standalone image .*qemu-img convert -O qcow2 /) }));
    expect(readdirSync(site.pool)).toEqual([]);
  });

  it('refuses an existing name unless --replace, and --replace while a job uses the image', () => {
    const site = tempSite();
    const a = join(site.src, 'a.qcow2');
    for (const f of [a, `${a}.vmlinuz`, `${a}.initrd`, `${a}.cmdline`]) writeFileSync(f, 'first');
    addImage(site.pool, a, 'the first');
    const before = readdirSync(site.pool).sort();
    expect(() => addImage(site.pool, a, 'again')).toThrow(expect.objectContaining({ fault: 'job', message: `image a.qcow2 is already in ${site.pool}: expected a new name (--name NAME), or --replace to replace it` }));
    expect(() => addImage(site.pool, a, 'again', 'a.qcow2', { replace: usedBy('a.qcow2', '12.srv') })).toThrow(
      expect.objectContaining({ fault: 'job', message: 'image a.qcow2 is in use on this node by job 12.srv (VM vtq-12.srv-n1-0 running): replace it when they have ended' }),
    );
    expect(() => addImage(site.pool, a, 'again', 'a.qcow2', { replace: { image: 'a.qcow2', users: [], unknown: { reason: 'libvirt (qemu:///system) did not answer: down', jobs: ['7.srv'] } } })).toThrow(
      expect.objectContaining({ code: 'LIBVIRT_FAILED', message: 'image a.qcow2: cannot tell whether job 7.srv on this node use it, so it is not replaced: libvirt (qemu:///system) did not answer: down; retry when libvirt answers' }),
    );
    expect(readdirSync(site.pool).sort()).toEqual(before);
    expect(readFileSync(join(site.pool, 'a.qcow2'), 'utf8')).toBe('first');

    // Replaced by an image without boot files: the old kernel must not boot the new disk; the description stays.
    const b = join(site.src, 'b.qcow2');
    writeFileSync(b, 'second');
    expect(addImage(site.pool, b, undefined, 'a.qcow2', { replace: freeUse('a.qcow2') })).toEqual([join(site.pool, 'a.qcow2')]);
    expect(readFileSync(join(site.pool, 'a.qcow2'), 'utf8')).toBe('second');
    expect(readdirSync(site.pool).sort()).toEqual(['a.qcow2', 'a.qcow2.info', 'a.qcow2.meta.json']);
    expect(listPoolImages(site.pool)[0]?.description).toBe('the first');
    const read = readImageMeta(site.pool, 'a.qcow2');
    expect(read.state === 'ok' && read.meta.sha256).toBe(sha256(b));
  });

  it('deletes nothing while a job on this node uses the image, or when its use was not asked', () => {
    const site = tempSite();
    const a = join(site.src, 'busy.qcow2');
    for (const f of [a, `${a}.vmlinuz`, `${a}.initrd`]) writeFileSync(f, 'x');
    addImage(site.pool, a, '');
    const before = readdirSync(site.pool).sort();
    expect(() => deleteImage(site.pool, 'busy.qcow2', usedBy('busy.qcow2', '12.srv'))).toThrow(
      expect.objectContaining({ fault: 'job', message: 'image busy.qcow2 is in use on this node by job 12.srv (VM vtq-12.srv-n1-0 running): delete it when they have ended' }),
    );
    expect(() => deleteImage(site.pool, 'busy.qcow2')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => deleteImage(site.pool, 'busy.qcow2', freeUse('other.qcow2'))).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => deleteImage(site.pool, 'gone.qcow2', freeUse('gone.qcow2'))).toThrow(expect.objectContaining({ fault: 'job', message: `image gone.qcow2: no such image in ${site.pool}; images: busy.qcow2` }));
    expect(readdirSync(site.pool).sort()).toEqual(before);
    // libvirt unreachable with no job recorded on this node: no vTorque job runs here.
    deleteImage(site.pool, 'busy.qcow2', { image: 'busy.qcow2', users: [], unknown: { reason: 'libvirt down', jobs: [] } });
    expect(readdirSync(site.pool)).toEqual([]);
  });
});
