import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../core/config/schema.js';
import { defaultConfig } from '../../core/config/validate.js';
import { qemuOwnerProblems, type StatMode } from './doctor-command.js';

const pool = mkdtempSync(join(tmpdir(), 'vtq-doctor-'));
afterAll(() => rmSync(pool, { recursive: true, force: true }));
writeFileSync(join(pool, 'debian.qcow2'), '');
writeFileSync(join(pool, 'debian.qcow2.vmlinuz'), '');

const config = (over: Partial<SiteConfig> = {}): SiteConfig => ({
  ...defaultConfig(),
  QEMU_USER: 'owner',
  LIBVIRT_URI: 'qemu:///system',
  SPOOL_DIR: '/var/spool/vtorque',
  RAMDISK_DIR: '/ramdisk',
  VM_IMG_DIR: pool,
  ...over,
});

/** A node where everything the owner's qemu needs is fine, with `over` paths' modes replaced (null = missing). */
function node(over: Record<string, number | null> = {}): StatMode {
  const dirs = new Set(['/', '/var', '/var/spool', '/var/spool/vtorque', '/ramdisk', ...pool.split('/').map((_, i, a) => a.slice(0, i + 1).join('/') || '/')]);
  return (path) => {
    if (path in over) {
      const mode = over[path];
      return mode === null || mode === undefined ? null : { mode, isDirectory: dirs.has(path) };
    }
    if (path === '/dev/kvm') return { mode: 0o20666, isDirectory: false };
    if (dirs.has(path)) return { mode: 0o40755, isDirectory: true };
    if (path.startsWith(`${pool}/`)) return { mode: 0o100444, isDirectory: false };
    return null;
  };
}

const KVM_PROBLEM = (mode: string) =>
  `qemu runs as the job owner (QEMU_USER: owner) but /dev/kvm is mode ${mode}: make it 0666 (udev rule KERNEL=="kvm", MODE="0666") or set QEMU_USER: libvirt`;

describe('vtorque doctor: qemuOwnerProblems', () => {
  it('a fit node has none', () => {
    expect(qemuOwnerProblems(config(), node())).toEqual([]);
  });

  it('/dev/kvm not usable by others, with kvm guests (HYPERVISOR kvm, or auto with /dev/kvm present)', () => {
    expect(qemuOwnerProblems(config({ HYPERVISOR: 'auto' }), node({ '/dev/kvm': 0o20660 }))).toEqual([KVM_PROBLEM('0660')]);
    expect(qemuOwnerProblems(config({ HYPERVISOR: 'kvm' }), node({ '/dev/kvm': 0o20600 }))).toEqual([KVM_PROBLEM('0600')]);
    expect(qemuOwnerProblems(config({ HYPERVISOR: 'kvm' }), node({ '/dev/kvm': 0o20664 }))).toEqual([KVM_PROBLEM('0664')]);
  });

  it('no kvm problem for TCG guests, the test driver, a missing /dev/kvm or QEMU_USER libvirt', () => {
    expect(qemuOwnerProblems(config({ HYPERVISOR: 'qemu' }), node({ '/dev/kvm': 0o20600 }))).toEqual([]);
    expect(qemuOwnerProblems(config({ LIBVIRT_URI: 'test:///default' }), node({ '/dev/kvm': 0o20600 }))).toEqual([]);
    expect(qemuOwnerProblems(config({ HYPERVISOR: 'auto' }), node({ '/dev/kvm': null }))).toEqual([]);
    expect(qemuOwnerProblems(config({ QEMU_USER: 'libvirt' }), node({ '/dev/kvm': 0o20600, '/var/spool/vtorque': 0o40700 }))).toEqual([]);
  });

  it('directories the owner\'s qemu cannot traverse, and pool files it cannot read', () => {
    expect(qemuOwnerProblems(config(), node({ '/var/spool/vtorque': 0o40700, [join(pool, 'debian.qcow2.vmlinuz')]: 0o100600 }))).toEqual([
      'qemu runs as the job owner (QEMU_USER: owner) but /var/spool/vtorque (on the way to SPOOL_DIR) is mode 0700: the owner\'s qemu cannot reach its files; fix with: chmod o+x /var/spool/vtorque',
      `qemu runs as the job owner (QEMU_USER: owner) but ${pool}/debian.qcow2.vmlinuz is mode 0600: the owner's qemu cannot read it; fix with: chmod 0444 ${pool}/debian.qcow2.vmlinuz`,
    ]);
  });
});
