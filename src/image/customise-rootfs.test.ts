import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { customiseRootfs, customisationDigest, MASKED_UNITS, TUNED_MASKED_UNITS } from './customise-rootfs.js';
import { GUEST_DIRS, SSH_SERVICE, VTORQUE_SEED_PATH, VTORQUE_SEED_SCRIPT } from './guest-files.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'vtq-image-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('customiseRootfs', () => {
  it('writes the fixes, masks units, drops host keys and apt caches, never through a symlink', () => {
    const root = tmp();
    const rootfs = join(root, 'rootfs');
    const host = join(root, 'host-resolv.conf');
    writeFileSync(host, 'nameserver 192.0.2.1\n');
    for (const d of ['etc/ssh', 'etc/systemd/system', 'var/cache/apt/archives/partial', 'var/lib/apt/lists/partial', 'var/lib/dbus']) {
      mkdirSync(join(rootfs, d), { recursive: true });
    }
    symlinkSync(host, join(rootfs, 'etc/resolv.conf')); // an absolute link out of the rootfs
    writeFileSync(join(rootfs, 'etc/ssh/ssh_host_ed25519_key'), 'k');
    writeFileSync(join(rootfs, 'etc/ssh/sshd_config'), 'c');
    writeFileSync(join(rootfs, 'var/cache/apt/archives/a.deb'), 'd');
    writeFileSync(join(rootfs, 'var/lib/apt/lists/deb.debian.org_Packages'), 'p');
    writeFileSync(join(rootfs, 'var/lib/dbus/machine-id'), '1234');

    const report = customiseRootfs(rootfs);
    expect(report.hostKeysRemoved).toBe(1);
    expect(readFileSync(host, 'utf8')).toBe('nameserver 192.0.2.1\n'); // the host file is untouched
    expect(lstatSync(join(rootfs, 'etc/resolv.conf')).isFile()).toBe(true);
    expect(readFileSync(join(rootfs, 'etc/resolv.conf'), 'utf8')).toBe('');
    expect(readFileSync(join(rootfs, 'etc/fstab'), 'utf8')).toBe('/dev/vda / ext4 defaults,errors=remount-ro,discard 0 1\n');
    expect(readFileSync(join(rootfs, 'etc/cloud/cloud.cfg.d/90_datasource.cfg'), 'utf8')).toContain('[ NoCloud, None ]');
    expect(readFileSync(join(rootfs, 'etc/machine-id'), 'utf8')).toBe('');
    for (const unit of MASKED_UNITS) expect(readlinkSync(join(rootfs, 'etc/systemd/system', unit))).toBe('/dev/null');
    expect(lstatSync(join(rootfs, 'etc/ssh/sshd_config')).isFile()).toBe(true);
    expect(lstatSync(join(rootfs, 'var/cache/apt/archives/a.deb'), { throwIfNoEntry: false })).toBeUndefined();
    expect(lstatSync(join(rootfs, 'var/lib/apt/lists/partial')).isDirectory()).toBe(true);
    expect(lstatSync(join(rootfs, 'var/lib/dbus/machine-id'), { throwIfNoEntry: false })).toBeUndefined();
  });

  it('refuses a parent directory that is a symlink', () => {
    const root = tmp();
    const rootfs = join(root, 'rootfs');
    mkdirSync(join(root, 'outside'));
    mkdirSync(rootfs);
    symlinkSync(join(root, 'outside'), join(rootfs, 'etc'));
    expect(() => customiseRootfs(rootfs)).toThrow(/not a directory/);
    expect(lstatSync(join(root, 'outside', 'fstab'), { throwIfNoEntry: false })).toBeUndefined();
  });

  const bare = (): string => {
    const rootfs = join(tmp(), 'rootfs');
    for (const d of ['etc/ssh', 'etc/systemd/system', 'var/cache/apt/archives', 'var/lib/apt/lists', 'var/lib/dbus']) mkdirSync(join(rootfs, d), { recursive: true });
    return rootfs;
  };
  const exists = (p: string): boolean => lstatSync(p, { throwIfNoEntry: false }) !== undefined;

  it('tuned (the default): vtorque-seed before an sshd that waits for no network, networkd, the boot path masked', () => {
    const rootfs = bare();
    customiseRootfs(rootfs);
    expect(lstatSync(join(rootfs, VTORQUE_SEED_PATH)).mode & 0o7777).toBe(0o755);
    expect(readFileSync(join(rootfs, VTORQUE_SEED_PATH), 'utf8')).toBe(VTORQUE_SEED_SCRIPT);
    const ssh = readFileSync(join(rootfs, 'etc/systemd/system/ssh.service'), 'utf8');
    expect(ssh).toBe(SSH_SERVICE);
    expect(ssh).toMatch(/^After=.*vtorque-seed\.service/m);
    expect(ssh).not.toMatch(/network\.target|ExecStartPre/);
    expect(readlinkSync(join(rootfs, 'etc/systemd/system/multi-user.target.wants/vtorque-seed.service'))).toBe('/etc/systemd/system/vtorque-seed.service');
    expect(readFileSync(join(rootfs, 'etc/systemd/network/80-vtorque-dhcp.network'), 'utf8')).toMatch(/DHCP=/);
    for (const unit of TUNED_MASKED_UNITS) expect(readlinkSync(join(rootfs, 'etc/systemd/system', unit))).toBe('/dev/null');
    expect(readFileSync(join(rootfs, 'etc/cloud/cloud.cfg.d/91_vtorque.cfg'), 'utf8')).toContain('renderers: [networkd]');
    for (const dir of GUEST_DIRS) expect(lstatSync(join(rootfs, dir)).isDirectory()).toBe(true);
    expect(VTORQUE_SEED_SCRIPT).toContain(`for d in ${GUEST_DIRS.join(' ')}; do`);
  });

  it('plain: the image as before the tuning, with no vtorque-seed, ssh unit or networkd files', () => {
    const rootfs = bare();
    customiseRootfs(rootfs, 'plain');
    for (const rel of [VTORQUE_SEED_PATH, 'etc/systemd/system/ssh.service', 'etc/systemd/system/vtorque-seed.service', 'etc/systemd/network/80-vtorque-dhcp.network']) expect(exists(join(rootfs, rel))).toBe(false);
    expect(exists(join(rootfs, 'etc/systemd/system/systemd-logind.service'))).toBe(false);
    expect(readFileSync(join(rootfs, 'etc/network/interfaces'), 'utf8')).toContain('source /etc/network/interfaces.d/*');
    expect(customisationDigest('plain')).not.toBe(customisationDigest('tuned'));
  });

  it("vtorque-seed is a POSIX sh script dash accepts", () => {
    const r = spawnSync('dash', ['-n'], { input: VTORQUE_SEED_SCRIPT, encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(VTORQUE_SEED_SCRIPT.startsWith('#!/bin/sh\n')).toBe(true);
  });
});
