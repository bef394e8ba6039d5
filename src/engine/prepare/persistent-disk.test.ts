import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../core/config/schema.js';
import { defaultConfig } from '../../core/config/validate.js';
import { sniffImage } from './image.js';
import { validatePersistentDisk } from './persistent-disk.js';
import { resolveTools } from './tools.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-disk-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));
const homes = join(top, 'home');
const alice = join(homes, 'alice');
mkdirSync(join(alice, 'real'), { recursive: true });
const config: SiteConfig = { ...defaultConfig(), QEMU_USER: 'owner', DISK_DIRS: [`${homes}/`] };
const tools = resolveTools();
const owner = { uid: 1000 };

function image(path: string, args: string[] = ['-f', 'qcow2'], uid = 1000): string {
  execFileSync('qemu-img', ['create', '-q', ...args, path, '16M']);
  execFileSync('chown', [`${uid}:${uid}`, path]);
  return path;
}
const good = image(join(alice, 'real', 'data.qcow2'));
const raw = image(join(alice, 'real', 'data.img'), ['-f', 'raw']);
execFileSync('chown', ['-R', '1000:1000', alice]);
const check = (path: string) => validatePersistentDisk(path, owner, config, tools);

describe('validatePersistentDisk', () => {
  it('accepts a standalone image the owner owns under DISK_DIRS and reports its format', async () => {
    await expect(check(good)).resolves.toEqual({ path: good, format: 'qcow2' });
    await expect(check(raw)).resolves.toEqual({ path: raw, format: 'raw' });
  });

  it('refuses any disk with QEMU_USER libvirt (libvirt would chown, as root, whatever the path names at start), naming the key and why', async () => {
    const err = await validatePersistentDisk(good, owner, { ...config, QEMU_USER: 'libvirt' }, tools).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REQUEST_INVALID' });
    expect((err as Error).message).toBe(
      `disk ${good}: persistent disks (-vm disk=) need QEMU_USER: owner, and this site runs qemu as libvirt's user (QEMU_USER: libvirt), where libvirt would chown, as root, whatever file the path names when the VM starts`,
    );
  });

  it('refuses any disk with QEMU_USER job-uid (qemu\'s own uid cannot open the owner\'s file), naming the mode', async () => {
    const err = await validatePersistentDisk(good, owner, { ...config, QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145009999' }, tools).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REQUEST_INVALID' });
    expect((err as Error).message).toBe(
      `disk ${good}: persistent disks (-vm disk=) need QEMU_USER: owner, and this site runs each job's qemu as a uid of its own that belongs to nobody (QEMU_USER: job-uid), which cannot open a disk the job owner owns`,
    );
  });

  it('refuses a symlink anywhere in the path', async () => {
    symlinkSync(join(alice, 'real'), join(alice, 'link'));
    symlinkSync(good, join(alice, 'real', 'disk-link.qcow2'));
    await expect(check(join(alice, 'link', 'data.qcow2'))).rejects.toThrow(/link.*symbolic link/);
    await expect(check(join(alice, 'real', 'disk-link.qcow2'))).rejects.toThrow(/symbolic link/);
  });

  it('refuses a disk owned by someone else', async () => {
    const theirs = image(join(alice, 'real', 'theirs.qcow2'), ['-f', 'qcow2'], 0);
    await expect(check(theirs)).rejects.toThrow(/owned by uid 0, not by the job owner \(uid 1000\)/);
  });

  it('refuses a qcow2 with a backing file or an external data file, before qemu-img opens what it names', async () => {
    const backed = join(alice, 'real', 'backed.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', good, '-F', 'qcow2', backed]);
    execFileSync('chown', ['1000:1000', backed]);
    await expect(check(backed)).rejects.toThrow(/has a backing file/);
    const external = image(join(alice, 'real', 'external.qcow2'), ['-f', 'qcow2', '-o', `data_file=${join(alice, 'real', 'external.raw')}`]);
    await expect(check(external)).rejects.toThrow(/external data file/);
  });

  it('refuses paths outside DISK_DIRS, with .., or not regular files', async () => {
    const elsewhere = join(top, 'elsewhere.qcow2');
    image(elsewhere);
    await expect(check(elsewhere)).rejects.toThrow(/not under DISK_DIRS/);
    await expect(check(`${homes}/../elsewhere.qcow2`)).rejects.toThrow(/"\.\."/);
    await expect(check(homes)).rejects.toThrow(/not under DISK_DIRS/);
    await expect(check(join(alice, 'real'))).rejects.toThrow(/not a regular file/);
    writeFileSync(join(alice, 'fifo-target'), '');
    execFileSync('mkfifo', [join(alice, 'fifo')]);
    await expect(check(join(alice, 'fifo'))).rejects.toThrow(/not a regular file/);
  });
});

describe('sniffImage', () => {
  const refuse = (why: string): never => {
    throw new Error(why);
  };
  const qcow2 = (patch: (b: Buffer) => void) => {
    const b = Buffer.alloc(104);
    b.writeUInt32BE(0x514649fb, 0);
    b.writeUInt32BE(3, 4);
    patch(b);
    return b;
  };
  it('reads the format from the header and refuses what a qcow2 may name or hide', () => {
    expect(sniffImage(Buffer.from('plain bytes'), refuse)).toBe('raw');
    expect(sniffImage(qcow2(() => undefined), refuse)).toBe('qcow2');
    expect(() => sniffImage(qcow2((b) => b.writeBigUInt64BE(512n, 8)), refuse)).toThrow(/backing file/);
    expect(() => sniffImage(qcow2((b) => b.writeUInt32BE(1, 32)), refuse)).toThrow(/encrypted/);
    expect(() => sniffImage(qcow2((b) => b.writeBigUInt64BE(4n, 72)), refuse)).toThrow(/external data file/);
    expect(() => sniffImage(qcow2(() => undefined).subarray(0, 20), refuse)).toThrow(/truncated/);
  });
});
