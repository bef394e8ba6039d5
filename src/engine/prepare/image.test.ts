import { execFileSync } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyUserImage, inImagePool, openUserImage } from './image.js';
import { resolveTools } from './tools.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-image-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));
// The user's side: a directory the owner (uid 1000) owns. Root's side: a root 0711 job dir.
const user = join(top, 'home', 'alice');
mkdirSync(user, { recursive: true });
const jobs = join(top, 'jobs');
mkdirSync(jobs, { mode: 0o711 });
const tools = resolveTools();
const owner = { uid: 1000 };
const MAX = 1024 * 1024 * 1024;
let seq = 0;

function userImage(name: string, args: string[] = ['-f', 'qcow2'], size = '16M'): string {
  const path = join(user, name);
  execFileSync('qemu-img', ['create', '-q', ...args, path, size]);
  execFileSync('chown', ['1000:1000', path]);
  return path;
}
const jobDir = (): string => {
  const dir = join(jobs, `job${++seq}`);
  mkdirSync(dir, { mode: 0o711 });
  return dir;
};
const info = (p: string) => JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', p], { encoding: 'utf8' })) as Record<string, unknown>;

describe('openUserImage', () => {
  it('opens the owner\'s own standalone image and reads only its header', () => {
    const path = userImage('ok.qcow2');
    const img = openUserImage(path, owner, MAX);
    try {
      expect([img.path, img.format, img.allocated]).toEqual([path, 'qcow2', statSync(path).blocks * 512]);
    } finally {
      img.file.close();
    }
    const raw = openUserImage(userImage('ok.img', ['-f', 'raw']), owner, MAX);
    raw.file.close();
    expect(raw.format).toBe('raw');
  });

  it('refuses, as the job\'s fault, a symlink (to /etc/shadow), a symlinked directory, a FIFO (without blocking), a directory', () => {
    const link = join(user, 'shadow.qcow2');
    symlinkSync('/etc/shadow', link);
    execFileSync('chown', ['-h', '1000:1000', link]);
    expect(() => openUserImage(link, owner, MAX)).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID', fault: 'job', message: expect.stringMatching(/^base image .*shadow\.qcow2: refusing .*: is a symbolic link$/) }));
    symlinkSync(user, join(top, 'home', 'via-link'));
    userImage('dir-ok.qcow2');
    expect(() => openUserImage(join(top, 'home', 'via-link', 'dir-ok.qcow2'), owner, MAX)).toThrow(expect.objectContaining({ fault: 'job', message: expect.stringMatching(/via-link.*symbolic link/) }));
    const fifo = join(user, 'fifo.qcow2');
    execFileSync('mkfifo', [fifo]);
    execFileSync('chown', ['1000:1000', fifo]);
    const t0 = performance.now();
    expect(() => openUserImage(fifo, owner, MAX)).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID', fault: 'job', message: expect.stringMatching(/fifo\.qcow2.*is not a regular file/) }));
    expect(performance.now() - t0).toBeLessThan(1000);
    mkdirSync(join(user, 'dir.qcow2'));
    expect(() => openUserImage(join(user, 'dir.qcow2'), owner, MAX)).toThrow(expect.objectContaining({ fault: 'job', message: expect.stringMatching(/not a regular file/) }));
  });

  it('refuses a file the owner does not own (root\'s, another user\'s): root never reads for him what is not his', () => {
    const rootOwned = join(user, 'root.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', rootOwned, '16M']);
    expect(() => openUserImage(rootOwned, owner, MAX)).toThrow(expect.objectContaining({
      code: 'REQUEST_INVALID', fault: 'job',
      message: `base image ${rootOwned}: is owned by uid 0, not by the job owner (uid 1000); only the owner's own image file is used`,
    }));
    const bobs = userImage('bob.qcow2');
    execFileSync('chown', ['1001:1001', bobs]);
    expect(() => openUserImage(bobs, owner, MAX)).toThrow(expect.objectContaining({ fault: 'job', message: expect.stringMatching(/owned by uid 1001, not by the job owner/) }));
  });

  it('refuses an image taking more than USER_IMAGE_MAX_MB on disk, and one with a backing file, before any program reads it', () => {
    const big = join(user, 'big.img');
    execFileSync('dd', ['if=/dev/zero', `of=${big}`, 'bs=1M', 'count=3', 'status=none']);
    execFileSync('chown', ['1000:1000', big]);
    expect(() => openUserImage(big, owner, 2 * 1024 * 1024)).toThrow(expect.objectContaining({ fault: 'job', message: `base image ${big}: takes 3 MiB on disk, more than USER_IMAGE_MAX_MB (2)` }));
    // Sparse: only what is allocated counts (the copy is sparse too).
    const sparse = userImage('sparse.img', ['-f', 'raw'], '10G');
    openUserImage(sparse, owner, 2 * 1024 * 1024).file.close();
    const base = userImage('base-of.qcow2');
    const backed = join(user, 'backed.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', backed]);
    execFileSync('chown', ['1000:1000', backed]);
    expect(() => openUserImage(backed, owner, MAX)).toThrow(expect.objectContaining({ fault: 'job', message: `base image ${backed}: has a backing file; only standalone images are accepted` }));
  });
});

describe('copyUserImage', () => {
  it('copies from the checked descriptor into the root-owned dir: a root 0600 file, checked again, the same bytes', async () => {
    const path = userImage('copy.qcow2');
    const img = openUserImage(path, owner, MAX);
    const dest = join(jobDir(), 'base.qcow2');
    try {
      const got = await copyUserImage(img, dest, MAX, tools);
      expect(got).toMatchObject({ format: 'qcow2', virtualSize: 16 * 1024 * 1024 });
    } finally {
      img.file.close();
    }
    const st = lstatSync(dest);
    expect([st.isFile(), st.uid, st.mode & 0o7777]).toEqual([true, 0, 0o600]);
    expect(readFileSync(dest).equals(readFileSync(path))).toBe(true);
    expect(info(dest)['backing-filename']).toBeUndefined();
  });

  it('a path swapped for a symlink to /etc/shadow after the check changes nothing: the copy is of the file that was checked', async () => {
    const path = userImage('swap.qcow2');
    const original = readFileSync(path);
    const img = openUserImage(path, owner, MAX);
    renameSync(path, join(user, 'swap.qcow2.moved'));
    symlinkSync('/etc/shadow', path);
    const dest = join(jobDir(), 'base.qcow2');
    try {
      await copyUserImage(img, dest, MAX, tools);
    } finally {
      img.file.close();
    }
    expect(readFileSync(dest).equals(original)).toBe(true);
    expect(readFileSync(dest).includes(readFileSync('/etc/shadow'))).toBe(false);
  });

  it('a header rewritten to name a backing file after the check is refused in the copy, even with the mtime put back', async () => {
    const path = userImage('rewrite.qcow2');
    const victim = userImage('victim.qcow2');
    const img = openUserImage(path, owner, MAX);
    const before = statSync(path, { bigint: true });
    // The owner rewrites his file in place (same inode, same size) with a header naming another
    // file, then restores the mtime: only checking the copy itself can see it.
    const evil = join(top, 'evil.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', victim, '-F', 'qcow2', evil, '16M']);
    const header = readFileSync(evil).subarray(0, 65536); // cluster 0: header, extensions, backing name
    const fd = openSync(path, 'r+');
    writeSync(fd, header, 0, header.length, 0);
    closeSync(fd);
    const ns = before.mtimeNs;
    execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, path]);
    expect([statSync(path, { bigint: true }).mtimeNs, BigInt(statSync(path).size)]).toEqual([before.mtimeNs, before.size]);
    const dest = join(jobDir(), 'base.qcow2');
    try {
      await expect(copyUserImage(img, dest, MAX, tools)).rejects.toMatchObject({ code: 'REQUEST_INVALID', fault: 'job', message: expect.stringMatching(/^base image .*rewrite\.qcow2, copied to .*base\.qcow2: has a backing file/) });
    } finally {
      img.file.close();
    }
  });

  it('a file written to after the check is refused as changed (the job\'s fault)', async () => {
    const path = userImage('grow.img', ['-f', 'raw'], '1M');
    const img = openUserImage(path, owner, MAX);
    const fd = openSync(path, 'a');
    writeSync(fd, Buffer.alloc(4096, 1));
    closeSync(fd);
    try {
      await expect(copyUserImage(img, join(jobDir(), 'base.img'), MAX, tools)).rejects.toMatchObject({ fault: 'job', message: `base image ${path}: changed while it was being copied; submit the job again once the image is complete` });
    } finally {
      img.file.close();
    }
  });
});

describe('inImagePool', () => {
  it('is true only for an entry directly in VM_IMG_DIR', () => {
    expect(inImagePool('/opt/vm-images', '/opt/vm-images/a.qcow2')).toBe(true);
    expect(inImagePool('/opt/vm-images/', '/opt/vm-images/a.qcow2')).toBe(true);
    expect(inImagePool('/opt/vm-images', '/opt/vm-images/sub/a.qcow2')).toBe(false);
    expect(inImagePool('/opt/vm-images', '/opt/vm-images/../etc/a.qcow2')).toBe(false);
    expect(inImagePool('/opt/vm-images', '/home/alice/a.qcow2')).toBe(false);
    expect(inImagePool('/opt/vm-images', 'a.qcow2')).toBe(false);
  });
});
