import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../core/config/schema.js';
import { defaultConfig } from '../../core/config/validate.js';
import { parseGetentIds } from '../../core/node/ids.js';
import { qemuUidOverlapProblems, qemuUserProblems, type StatMode } from './doctor-command.js';

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

describe('vtorque doctor: qemuUserProblems', () => {
  it('a fit node has none', () => {
    expect(qemuUserProblems(config(), node())).toEqual([]);
  });

  it('/dev/kvm not usable by others, with kvm guests (HYPERVISOR kvm, or auto with /dev/kvm present)', () => {
    expect(qemuUserProblems(config({ HYPERVISOR: 'auto' }), node({ '/dev/kvm': 0o20660 }))).toEqual([KVM_PROBLEM('0660')]);
    expect(qemuUserProblems(config({ HYPERVISOR: 'kvm' }), node({ '/dev/kvm': 0o20600 }))).toEqual([KVM_PROBLEM('0600')]);
    expect(qemuUserProblems(config({ HYPERVISOR: 'kvm' }), node({ '/dev/kvm': 0o20664 }))).toEqual([KVM_PROBLEM('0664')]);
  });

  it('no kvm problem for TCG guests, the test driver, a missing /dev/kvm or QEMU_USER libvirt', () => {
    expect(qemuUserProblems(config({ HYPERVISOR: 'qemu' }), node({ '/dev/kvm': 0o20600 }))).toEqual([]);
    expect(qemuUserProblems(config({ LIBVIRT_URI: 'test:///default' }), node({ '/dev/kvm': 0o20600 }))).toEqual([]);
    expect(qemuUserProblems(config({ HYPERVISOR: 'auto' }), node({ '/dev/kvm': null }))).toEqual([]);
    expect(qemuUserProblems(config({ QEMU_USER: 'libvirt' }), node({ '/dev/kvm': 0o20600, '/var/spool/vtorque': 0o40700 }))).toEqual([]);
  });

  it('directories the owner\'s qemu cannot traverse, and pool files it cannot read', () => {
    expect(qemuUserProblems(config(), node({ '/var/spool/vtorque': 0o40700, [join(pool, 'debian.qcow2.vmlinuz')]: 0o100600 }))).toEqual([
      'qemu runs as the job owner (QEMU_USER: owner) but /var/spool/vtorque (on the way to SPOOL_DIR) is mode 0700: the owner\'s qemu cannot reach its files; fix with: chmod o+x /var/spool/vtorque',
      `qemu runs as the job owner (QEMU_USER: owner) but ${pool}/debian.qcow2.vmlinuz is mode 0600: the owner's qemu cannot read it; fix with: chmod 0444 ${pool}/debian.qcow2.vmlinuz`,
    ]);
  });
});

const JOB_UID = { QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145009999' } as const;
const KVM_GID = 107;
/** /dev/kvm with this mode and group. */
const kvmDev = (mode: number, gid: number): StatMode => {
  const base = node();
  return (path) => (path === '/dev/kvm' ? { mode, isDirectory: false, gid } : base(path));
};
const JOB_UID_QEMU = 'qemu runs as a per-job uid from QEMU_UIDS (QEMU_USER: job-uid)';

describe('vtorque doctor: qemuUserProblems (QEMU_USER job-uid)', () => {
  it('/dev/kvm 0660 root:kvm or 0666 is enough; a fit node has no problem', () => {
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20660, KVM_GID), KVM_GID)).toEqual([]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20666, 0), KVM_GID)).toEqual([]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20666, 0), null)).toEqual([]);
    expect(qemuUserProblems(config({ ...JOB_UID, HYPERVISOR: 'qemu' }), kvmDev(0o20600, 0), KVM_GID)).toEqual([]);
  });

  it('/dev/kvm not group-rw for kvm nor world-rw, or no kvm group and not world-rw', () => {
    const fix = `make it group-rw for group kvm (gid ${KVM_GID}; udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660") or set QEMU_USER: libvirt`;
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20600, KVM_GID), KVM_GID)).toEqual([`${JOB_UID_QEMU} but /dev/kvm is mode 0600 with group ${KVM_GID}: ${fix}`]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20660, 0), KVM_GID)).toEqual([`${JOB_UID_QEMU} but /dev/kvm is mode 0660 with group 0: ${fix}`]);
    expect(qemuUserProblems(config({ ...JOB_UID, HYPERVISOR: 'kvm' }), kvmDev(0o20640, KVM_GID), KVM_GID)).toEqual([`${JOB_UID_QEMU} but /dev/kvm is mode 0640 with group ${KVM_GID}: ${fix}`]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20660, KVM_GID), null)).toEqual([
      `${JOB_UID_QEMU} but /dev/kvm is mode 0660 and this node has no kvm group (qemu's gid is then its uid's number): create a kvm group and make /dev/kvm 0660 root:kvm (udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660"), or make it 0666, or set QEMU_USER: libvirt`,
    ]);
  });

  it('the same traversal and pool-readability checks as for the owner', () => {
    expect(qemuUserProblems(config(JOB_UID), node({ '/var/spool/vtorque': 0o40750, [join(pool, 'debian.qcow2')]: 0o100640 }), KVM_GID)).toEqual([
      `${JOB_UID_QEMU} but /var/spool/vtorque (on the way to SPOOL_DIR) is mode 0750: the job's qemu cannot reach its files; fix with: chmod o+x /var/spool/vtorque`,
      `${JOB_UID_QEMU} but ${pool}/debian.qcow2 is mode 0640: the job's qemu cannot read it; fix with: chmod 0444 ${pool}/debian.qcow2`,
    ]);
  });
});

describe('vtorque doctor: qemuUidOverlapProblems', () => {
  const passwd = parseGetentIds(
    ['root:x:0:0:root:/root:/bin/bash', 'alice:x:1000:1000::/home/alice:/bin/bash', 'svc1:x:2145000009:100::/:/sbin/nologin', 'svc0:x:2145000000:100::/:/sbin/nologin', 'edge:x:2145010000:100::/:/sbin/nologin', 'bad line', ''].join('\n'),
  );
  const groups = parseGetentIds(['root:x:0:', 'kvm:x:107:', ...Array.from({ length: 7 }, (_, i) => `g${i}:x:${2145009999 - i}:alice`)].join('\n'));

  it('parses getent output, skipping malformed lines', () => {
    expect(passwd).toEqual([
      { name: 'root', id: 0 }, { name: 'alice', id: 1000 }, { name: 'svc1', id: 2145000009 }, { name: 'svc0', id: 2145000000 }, { name: 'edge', id: 2145010000 },
    ]);
  });

  it('lists the first few users and groups inside the range, by id, and how many more', () => {
    expect(qemuUidOverlapProblems('2145000000-2145009999', passwd, groups)).toEqual([
      'QEMU_UIDS 2145000000-2145009999 overlaps the user database: uid 2145000000 (svc0), 2145000009 (svc1); each job\'s qemu must run as ids that belong to nobody (QEMU_USER: job-uid): choose a QEMU_UIDS range that no user\'s uid and no group\'s gid falls in',
      'QEMU_UIDS 2145000000-2145009999 overlaps the group database: gid 2145009993 (g6), 2145009994 (g5), 2145009995 (g4), 2145009996 (g3), 2145009997 (g2) and 2 more; each job\'s qemu must run as ids that belong to nobody (QEMU_USER: job-uid): choose a QEMU_UIDS range that no user\'s uid and no group\'s gid falls in',
    ]);
  });

  it('nothing when the range is clear of every id (bounds inclusive), or unset', () => {
    expect(qemuUidOverlapProblems('2145000001-2145000008', passwd, groups)).toEqual([]);
    expect(qemuUidOverlapProblems('2145010000-2145010000', passwd, [])).toHaveLength(1);
    expect(qemuUidOverlapProblems('', passwd, groups)).toEqual([]);
  });
});

