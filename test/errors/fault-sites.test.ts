/**
 * The sites that decide the most (issue 10 §5), driven through the real functions: a node that
 * lacks a program is the node's fault (requeue elsewhere, a message for the admin), never the
 * job's; a policy refusal and a malformed request are the job's; a cancel is a cancel.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/core/config/load.js';
import type { SiteConfig } from '../../src/core/config/schema.js';
import { defaultConfig } from '../../src/core/config/validate.js';
import { decodeJobScript } from '../../src/core/contract/job-script.v1.js';
import { faultOf, VtorqueError, type Fault } from '../../src/core/errors.js';
import { findExecutable, requireExecutable } from '../../src/core/exec/which.js';
import { openNoFollow } from '../../src/core/fs/index.js';
import { acquireNodeLock } from '../../src/core/node/lock.js';
import { applyPolicy } from '../../src/core/request/policy.js';
import type { VmRequest } from '../../src/core/request/types.js';
import { assignCpus } from '../../src/engine/pinning.js';
import { validatePersistentDisk } from '../../src/engine/prepare/persistent-disk.js';
import { buildSeedIso } from '../../src/engine/prepare/seed.js';
import { need, resolveTools } from '../../src/engine/prepare/tools.js';
import { connectVm } from '../../src/runner/ssh/connect.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-faults-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));
/** A directory with no programs at all, for PATH. */
const noTools = join(top, 'empty-bin');
mkdirSync(noTools);

/** What `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<VtorqueError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VtorqueError);
  return err as VtorqueError;
}
function thrown(fn: () => unknown): VtorqueError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(VtorqueError);
    return err as VtorqueError;
  }
  throw new Error('expected a throw');
}
/** The node's message for a missing program: names this node, the program and its Debian package. */
function expectNodeLacks(err: VtorqueError, file: string, pkg: string): void {
  expect(faultOf(err)).toBe<Fault>('node');
  expect(err.message).toContain(`node ${hostname()}: `);
  expect(err.message).toContain(`${file} (Debian package ${pkg})`);
  expect(err.message).toContain(`apt-get install ${pkg}`);
}

describe('a program the node lacks is the node\'s fault, named with its Debian package', () => {
  it('qemu-img, checking a user\'s persistent disk: the node\'s, though a qemu-img failure on that disk would be the job\'s', async () => {
    const homes = join(top, 'home');
    const disk = join(homes, 'alice', 'data.img');
    mkdirSync(join(homes, 'alice'), { recursive: true });
    writeFileSync(disk, Buffer.alloc(1 << 20));
    chownSync(join(homes, 'alice'), 1000, 1000);
    chownSync(disk, 1000, 1000);
    const config: SiteConfig = { ...defaultConfig(), QEMU_USER: 'owner', DISK_DIRS: [homes] };
    const tools = resolveTools();
    // With qemu-img the same disk is accepted: the refusal below is the missing program alone.
    await expect(validatePersistentDisk(disk, { uid: 1000 }, config, tools)).resolves.toEqual({ path: disk, format: 'raw' });
    const err = await rejection(validatePersistentDisk(disk, { uid: 1000 }, config, { ...tools, qemuImg: null }));
    expect(err.code).toBe('NOT_SUPPORTED');
    expectNodeLacks(err, 'qemu-img', 'qemu-utils');
    expectNodeLacks(thrown(() => need(resolveTools({ qemuImg: null }), 'qemuImg')), 'qemu-img', 'qemu-utils');
  });

  it('genisoimage and cloud-localds both missing when the seed is built', async () => {
    const vmDir = mkdtempSync(join(top, 'vm-'));
    const files = { userData: '#cloud-config\n', metaData: 'instance-id: x\n', networkConfig: 'version: 2\n' };
    const err = await rejection(buildSeedIso(vmDir, join(vmDir, 'seed.iso'), files, resolveTools({ genisoimage: null, cloudLocalds: null }), null));
    expectNodeLacks(err, 'genisoimage', 'genisoimage');
    expect(err.message).toContain('cloud-localds (Debian package cloud-image-utils)');
  });

  it('flock, for the node lock (PATH without it)', async () => {
    const lockPath = join(top, 'node.lock');
    const held = await acquireNodeLock(lockPath, { timeoutMs: 5000 });
    await held.release();
    const saved = process.env.PATH;
    process.env.PATH = noTools;
    try {
      expect(findExecutable('flock')).toBeNull(); // not in the sbin directories searched after PATH either
      const err = await rejection(acquireNodeLock(lockPath, { timeoutMs: 5000 }));
      expectNodeLacks(err, 'flock', 'util-linux');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('requireExecutable: the path when found, else the same node fault', () => {
    expect(requireExecutable({ file: 'sh', pkg: 'dash' }, 'a test')).toMatch(/\/sh$/);
    expectNodeLacks(thrown(() => requireExecutable({ file: 'qemu-img', pkg: 'qemu-utils' }, 'a test', noTools)), 'qemu-img', 'qemu-utils');
  });
});

const request: VmRequest = {
  version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 512, vms_per_node: 1,
  vcpu_pinning: false, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

describe('the request and the site policy: the job\'s fault', () => {
  const pool = ['debian-12-x86_64.qcow2'];
  it('an image outside the authorized pool, a user image where none is allowed, a disk outside DISK_DIRS', () => {
    expect(applyPolicy(request, defaultConfig(), pool).request.img).toBe(request.img);
    expect(faultOf(thrown(() => applyPolicy({ ...request, img: 'other.qcow2' }, defaultConfig(), pool)))).toBe('job');
    expect(faultOf(thrown(() => applyPolicy({ ...request, img: '/home/alice/mine.qcow2' }, { ...defaultConfig(), ALLOW_USER_IMAGES: false }, pool)))).toBe('job');
    const owner: SiteConfig = { ...defaultConfig(), QEMU_USER: 'owner', DISK_DIRS: ['/srv/disks'] };
    expect(faultOf(thrown(() => applyPolicy({ ...request, disk: '/etc/shadow' }, owner, pool)))).toBe('job');
  });

  it('a malformed frozen request in the job script', () => {
    const script = '#!/bin/sh\n#VTORQUE-REQUEST v1 not-base64-json!\n#VTORQUE-SCRIPT v1 ZWNobyBoaQ\nexec true\n';
    expect(faultOf(thrown(() => decodeJobScript(script, 'job.SC')))).toBe('job');
  });

  it('a pinning request the node can never hold is the job\'s; one that other jobs\' pins block now is the node\'s', () => {
    const cap = { cores: 4, memMiB: 8192, numa: { 0: [0, 1, 2, 3] } };
    const pin = { vms: 1, vcpus: 2, hostReserved: 1, busy: new Set<number>() };
    expect(assignCpus(cap, { ...pin, mode: true }, 'n1').cpus).toEqual([[1, 2]]);
    expect(faultOf(thrown(() => assignCpus(cap, { ...pin, vcpus: 4, mode: true }, 'n1')))).toBe('job');
    expect(faultOf(thrown(() => assignCpus(cap, { ...pin, busy: new Set([1, 2]), mode: true }, 'n1')))).toBe('node');
    expect(faultOf(thrown(() => assignCpus(cap, { ...pin, mode: [[7, 1]] }, 'n1')))).toBe('job');
    expect(faultOf(thrown(() => assignCpus(cap, { ...pin, busy: new Set([2]), mode: [[1, 2]] }, 'n1')))).toBe('node');
  });

  it('an unsafe path is the job\'s when the job named it (untrusted), the node\'s below root\'s trusted directories', () => {
    const real = join(top, 'real.img');
    writeFileSync(real, 'x');
    symlinkSync(real, join(top, 'link.img'));
    openNoFollow(real, { trusted: false }).close();
    for (const [path, why] of [[join(top, 'link.img'), /symbolic link/], [join(top, 'absent.img'), /does not exist/], [top, /not a regular file/], ['relative.img', /not an absolute path/]] as const) {
      const untrusted = thrown(() => openNoFollow(path, { trusted: false }));
      expect(untrusted.message).toMatch(why);
      expect(faultOf(untrusted)).toBe('job');
      expect(faultOf(thrown(() => openNoFollow(path, { trusted: true })))).toBe('node');
    }
  });

  it('a site config that does not validate is the node\'s, not the job\'s', () => {
    expect(faultOf(thrown(() => parseConfigText('MAX_VMS_PER_NODE: many\n', '/etc/vtorque/config.yaml')))).toBe('node');
    expect(faultOf(thrown(() => parseConfigText('{ not yaml', '/etc/vtorque/config.yaml')))).toBe('node');
  });
});

describe('a cancel is a cancel', () => {
  // An ed25519 public key blob: the algorithm name, then 32 key bytes (each an SSH string).
  const name = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([Buffer.from([0, 0, 0, name.length]), name, Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]);
  const keyFile = join(top, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  const target = { vm: 'vm1', host: '127.0.0.1', port: 1, user: 'alice', privateKey: readFileSync(keyFile), hostKey: `ssh-ed25519 ${blob.toString('base64')}` };
  const limits = { readyTimeoutMs: 5000, keepaliveIntervalMs: 1000, keepaliveCountMax: 3 };

  it('an SSH login given up for a cancel is a cancel; one refused by the VM is the node\'s', async () => {
    const aborted = AbortSignal.abort();
    expect(faultOf(await rejection(connectVm(target, limits, aborted)))).toBe('cancel');
    expect(faultOf(await rejection(connectVm(target, limits)))).toBe('node'); // nothing listens on port 1
  });
});
