import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../core/config/schema.js';
import { defaultConfig } from '../core/config/validate.js';
import { DIRECT_BOOT_CMDLINE, SEED_CAPABILITY } from '../core/contract/guest-seed.v1.js';
import { bootFilesFor } from './node-context.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-boot-'));
chmodSync(top, 0o755);
afterAll(() => rmSync(top, { recursive: true, force: true }));
let seq = 0;

/** A fresh root-owned pool with one image; `files` are written beside it as root 0444. */
function pool(files: string[] = []): { config: SiteConfig; image: string } {
  const dir = join(top, `pool${++seq}`);
  mkdirSync(dir, { mode: 0o755 });
  const image = join(dir, 'img.qcow2');
  writeFileSync(image, 'x', { mode: 0o444 });
  for (const f of files) writeFileSync(`${image}${f}`, f, { mode: 0o444 });
  return { config: { ...defaultConfig(), VM_IMG_DIR: dir, QEMU_USER: 'job-uid' }, image };
}
const lines: string[] = [];
const log = { info: (_f: Record<string, unknown>, msg: string) => void lines.push(msg), warn: () => undefined };

describe('bootFilesFor', () => {
  it('boots a pool image\'s own root-owned 0444 kernel and initrd; from its disk when either is absent', () => {
    const both = pool(['.vmlinuz', '.initrd']);
    lines.length = 0;
    expect(bootFilesFor(both.config, both.image, log)).toEqual({ kernel: `${both.image}.vmlinuz`, initrd: `${both.image}.initrd`, cmdline: DIRECT_BOOT_CMDLINE, seedCapable: false });
    expect(lines).toEqual(['direct kernel boot from the pool']);
    const kernelOnly = pool(['.vmlinuz']);
    expect(bootFilesFor(kernelOnly.config, kernelOnly.image)).toBeNull();
    const none = pool();
    expect(bootFilesFor(none.config, none.image)).toBeNull();
  });

  it("takes the image's own root-owned .cmdline; SEED_CAPABILITY in it says the image has vtorque-seed", () => {
    const tuned = pool(['.vmlinuz', '.initrd']);
    writeFileSync(`${tuned.image}.cmdline`, `root=/dev/vda rw console=ttyS0 quiet ${SEED_CAPABILITY}\n`, { mode: 0o444 });
    expect(bootFilesFor(tuned.config, tuned.image)).toEqual({ kernel: `${tuned.image}.vmlinuz`, initrd: `${tuned.image}.initrd`, cmdline: `root=/dev/vda rw console=ttyS0 quiet ${SEED_CAPABILITY}`, seedCapable: true });
    const own = pool(['.vmlinuz', '.initrd']);
    writeFileSync(`${own.image}.cmdline`, 'root=/dev/vda1 ro console=ttyS0', { mode: 0o444 });
    expect(bootFilesFor(own.config, own.image)).toMatchObject({ cmdline: 'root=/dev/vda1 ro console=ttyS0', seedCapable: false });
    // Without kernel and initrd a .cmdline means nothing: the image boots from its disk.
    const lone = pool([]);
    writeFileSync(`${lone.image}.cmdline`, 'quiet', { mode: 0o444 });
    expect(bootFilesFor(lone.config, lone.image)).toBeNull();
  });

  it.each([
    ['two lines', 'root=/dev/vda\ninit=/bin/sh\n'],
    ['a control character', 'root=/dev/vda\u001b[2J'],
    ['an oversized line', `root=/dev/vda ${'x'.repeat(3000)}`],
    ['an empty file', '\n'],
  ])('refuses a pool .cmdline with %s, as the node\'s fault', (_label, text) => {
    const p = pool(['.vmlinuz', '.initrd']);
    writeFileSync(`${p.image}.cmdline`, text, { mode: 0o444 });
    expect(() => bootFilesFor(p.config, p.image)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', fault: 'node', message: expect.stringContaining(`${p.image}.cmdline is refused`) }));
  });

  it('refuses a pool .cmdline that is a symlink or that someone else owns or can write', () => {
    const linked = pool(['.vmlinuz', '.initrd']);
    symlinkSync('/etc/shadow', `${linked.image}.cmdline`);
    expect(() => bootFilesFor(linked.config, linked.image)).toThrow(expect.objectContaining({ fault: 'node', message: expect.stringMatching(/\.cmdline is refused: .*symbolic link/) }));
    const theirs = pool(['.vmlinuz', '.initrd', '.cmdline']);
    chownSync(`${theirs.image}.cmdline`, 1000, 1000);
    expect(() => bootFilesFor(theirs.config, theirs.image)).toThrow(expect.objectContaining({ fault: 'node', message: expect.stringMatching(/\.cmdline is owned by uid 1000, not root/) }));
    const writable = pool(['.vmlinuz', '.initrd', '.cmdline']);
    chmodSync(`${writable.image}.cmdline`, 0o666);
    expect(() => bootFilesFor(writable.config, writable.image)).toThrow(expect.objectContaining({ message: expect.stringMatching(/\.cmdline is writable by group or others/) }));
  });

  it('never looks beside a user\'s image (ALLOW_USER_IMAGES): its .vmlinuz symlink to /etc/shadow and its FIFO .initrd are not even opened', () => {
    const home = join(top, 'home');
    mkdirSync(join(home, 'real'), { recursive: true });
    // The user's directory is reached through a symlink: any walk or lstat of the path would refuse it.
    symlinkSync(join(home, 'real'), join(home, 'link'));
    const image = join(home, 'link', 'mine.qcow2');
    writeFileSync(image, 'x');
    symlinkSync('/etc/shadow', `${image}.vmlinuz`);
    execFileSync('mkfifo', [`${image}.initrd`]);
    chownSync(join(home, 'real'), 1000, 1000);
    const { config } = pool();
    lines.length = 0;
    const t0 = performance.now();
    expect(bootFilesFor({ ...config, ALLOW_USER_IMAGES: true }, image, log)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(lines).toEqual(['a user image boots from its own disk; files beside it are not used']);
    // Also a path that only looks like the pool's (a subdirectory of it) is not the pool.
    const p = pool();
    mkdirSync(join(p.config.VM_IMG_DIR, 'sub'));
    expect(bootFilesFor(p.config, join(p.config.VM_IMG_DIR, 'sub', 'img.qcow2'))).toBeNull();
  });

  it('refuses, as the node\'s fault naming the fix, a pool kernel or initrd that is a symlink (to /etc/shadow) or not a regular file', () => {
    const linked = pool(['.initrd']);
    symlinkSync('/etc/shadow', `${linked.image}.vmlinuz`);
    expect(() => bootFilesFor(linked.config, linked.image)).toThrow(expect.objectContaining({
      code: 'CONFIG_INVALID', fault: 'node',
      message: expect.stringMatching(new RegExp(`^direct kernel boot file ${linked.image}\\.vmlinuz is refused: refusing .*: is a symbolic link; replace it with a regular root-owned file .*, or remove ${linked.image}\\.vmlinuz and ${linked.image}\\.initrd to boot the image from its disk$`)),
    }));
    const fifo = pool(['.vmlinuz']);
    execFileSync('mkfifo', [`${fifo.image}.initrd`]);
    expect(() => bootFilesFor(fifo.config, fifo.image)).toThrow(expect.objectContaining({ fault: 'node', message: expect.stringMatching(/\.initrd is refused: .*not a regular file/) }));
  });

  it('refuses a pool boot file someone else owns or can write, or that an unprivileged qemu cannot read', () => {
    const theirs = pool(['.vmlinuz', '.initrd']);
    chownSync(`${theirs.image}.vmlinuz`, 1000, 1000);
    expect(() => bootFilesFor(theirs.config, theirs.image)).toThrow(expect.objectContaining({ fault: 'node', message: `direct kernel boot file ${theirs.image}.vmlinuz is owned by uid 1000, not root; fix with: chown root:root ${theirs.image}.vmlinuz` }));
    expect(() => bootFilesFor({ ...theirs.config, QEMU_USER: 'libvirt' }, theirs.image)).toThrow(expect.objectContaining({ message: expect.stringMatching(/not root \(QEMU_USER libvirt chowns a running VM's kernel to its qemu user; QEMU_USER job-uid never does\)/) }));
    const writable = pool(['.vmlinuz', '.initrd']);
    chmodSync(`${writable.image}.initrd`, 0o666);
    expect(() => bootFilesFor(writable.config, writable.image)).toThrow(expect.objectContaining({ fault: 'node', message: `direct kernel boot file ${writable.image}.initrd is writable by group or others (mode 0666); fix with: chmod 0444 ${writable.image}.initrd` }));
    const unreadable = pool(['.vmlinuz', '.initrd']);
    chmodSync(`${unreadable.image}.vmlinuz`, 0o400);
    expect(() => bootFilesFor(unreadable.config, unreadable.image)).toThrow(expect.objectContaining({ message: `direct kernel boot file ${unreadable.image}.vmlinuz is mode 0400: qemu runs as a per-job uid from QEMU_UIDS (QEMU_USER: job-uid) and cannot read it; fix with: chmod 0444 ${unreadable.image}.vmlinuz` }));
    // QEMU_USER libvirt: libvirt's qemu user gets it by relabelling; root's 0400 is fine.
    expect(bootFilesFor({ ...unreadable.config, QEMU_USER: 'libvirt' }, unreadable.image)).not.toBeNull();
  });

  it('refuses boot files in a pool someone other than root can write', () => {
    const p = pool(['.vmlinuz', '.initrd']);
    chmodSync(p.config.VM_IMG_DIR, 0o775);
    expect(() => bootFilesFor(p.config, p.image)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', fault: 'node', message: expect.stringMatching(/is not in a trusted pool: .*writable by group or others/) }));
  });
});
