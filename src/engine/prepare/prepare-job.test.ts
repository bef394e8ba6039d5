import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { afterAll, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../core/config/schema.js';
import { defaultConfig } from '../../core/config/validate.js';
import { readMounts } from '../../core/fs/index.js';
import { buildDomainXml } from '../../core/libvirt/index.js';
import { createRenderer } from '../../core/render/index.js';
import type { VmRequest } from '../../core/request/types.js';
import { loadUserDataBase } from '../../guest/index.js';
import { toDomainSpec } from '../libvirt/index.js';
import { planJob } from '../plan.js';
import type { JobPlan } from '../types.js';
import { prepareJob, removeJobFiles, type PrepareContext, type PrepareTools } from './index.js';
import { checkQemuUidUnowned } from './prepare-job.js';
import { SEED_CAPABILITY } from '../../core/contract/guest-seed.v1.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-prepare-'));
const pool = join(top, 'pool');
mkdirSync(pool, { mode: 0o755 });
const BASE = join(pool, 'base.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', BASE, '64M']);
const home = join(top, 'home', 'alice');
mkdirSync(home, { recursive: true, mode: 0o755 });
execFileSync('chown', ['1000:1000', home]);
const DISK = join(home, 'data.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', DISK, '16M']);
execFileSync('chown', ['1000:1000', DISK]);

afterAll(() => {
  for (const m of readMounts().filter((e) => e.mountPoint.startsWith(`${top}/`)).reverse()) execFileSync('umount', [m.mountPoint]);
  rmSync(top, { recursive: true, force: true });
});

const repo = (dir: string) => fileURLToPath(new URL(`../../../${dir}`, import.meta.url));
const userDataBase = loadUserDataBase(repo('templates-vm'));
const renderTemplates = createRenderer(repo('templates'));
const request: VmRequest = {
  version: 1, img: 'base.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 512, vms_per_node: 2,
  vcpu_pinning: false, disk: DISK, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

let seq = 0;
function setup(over: Partial<VmRequest> = {}, tools: Partial<PrepareTools> = {}, configOver: Partial<SiteConfig> = {}, baseImage = BASE): { config: SiteConfig; plan: JobPlan; ctx: PrepareContext; logs: string[] } {
  const n = ++seq;
  const config: SiteConfig = {
    ...defaultConfig(),
    QEMU_USER: 'owner',
    SPOOL_DIR: join(top, `spool${n}`), RAMDISK_DIR: join(top, `ramdisk${n}`), VM_IMG_DIR: pool, DISK_DIRS: [join(top, 'home')],
    NAME_SERVER: '10.0.0.2', SEARCH_DOMAIN: 'cluster.local', NTP_SERVER_1: 'ntp1.cluster.local', SW_PACKAGES_DEBIAN: ['htop'],
    VM_NFS_HOME: 'nfs1:/export/home', HOST_OS_CORE_COUNT: 0,
    ...configOver,
  };
  const plan = planJob({
    job: { jobId: `${40 + n}.server`, owner: { user: 'alice', uid: 1000, gid: 1000, group: 'alice' } },
    request: { ...request, ...over },
    config,
    nodes: [{ name: 'n01', capacity: { cores: 4, memMiB: 16384, numa: { 0: [0, 1, 2, 3] } }, usedMacs: new Set(), busyCpus: new Set(), busyQemuUids: new Set(), heldMemMiB: 0 }],
    baseImage,
    uuid: () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
  });
  const logs: string[] = [];
  const ctx: PrepareContext = { config, userDataBase, renderTemplates, guestEnv: { PBS_JOBID: plan.job.jobId, PBS_O_WORKDIR: '/home/alice' }, log: (m) => logs.push(m), tools };
  return { config, plan, ctx, logs };
}

const mode = (p: string) => lstatSync(p).mode & 0o7777;
const owner = (p: string) => `${lstatSync(p).uid}:${lstatSync(p).gid}`;
const imgInfo = (p: string) => JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-U', p], { encoding: 'utf8' })) as Record<string, unknown>;
const isoFile = (iso: string, name: string) => execFileSync('isoinfo', ['-i', iso, '-R', '-x', `/${name}`], { encoding: 'utf8' });
const mountsUnder = (dir: string) => readMounts().filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(`${dir}/`));

describe('prepareJob (sharedfs)', () => {
  it('prepares 2 VMs: dirs, keys, overlays, seeds, known_hosts; removeJobFiles keeps logs when asked', async () => {
    const { config, plan, ctx } = setup();
    const t0 = performance.now();
    const job = await prepareJob(plan, ctx);
    const ms = Math.round(performance.now() - t0);
    console.info(`prepareJob, 2 VMs, sharedfs: ${ms} ms`);

    expect([mode(config.SPOOL_DIR), owner(config.SPOOL_DIR)]).toEqual([0o755, '0:0']);
    for (const d of [join(config.SPOOL_DIR, 'jobs'), plan.jobDir, join(plan.jobDir, 'ssh'), join(plan.jobDir, 'vms'), ...plan.vms.map((v) => v.dir)]) {
      expect([d, mode(d), owner(d)]).toEqual([d, 0o711, '0:0']);
    }
    expect([mode(job.userKeyPath), owner(job.userKeyPath)]).toEqual([0o600, '1000:1000']);
    expect([mode(`${job.userKeyPath}.pub`), owner(`${job.userKeyPath}.pub`)]).toEqual([0o644, '1000:1000']);
    expect(job.userKeyPublic).toMatch(new RegExp(`^ssh-ed25519 \\S+ vtorque-${plan.job.jobId.replace('.', '\\.')}$`));
    expect([job.ramdisk, job.baseFormat]).toEqual([null, 'qcow2']);

    const knownHosts = readFileSync(job.knownHostsPath, 'utf8');
    expect([mode(job.knownHostsPath), owner(job.knownHostsPath)]).toEqual([0o644, '0:0']);
    expect(knownHosts).toBe(job.vms.map((v) => `${v.plan.name} ${v.hostKeyPublic}\n`).join(''));
    expect(new Set(job.vms.map((v) => v.hostKeyPublic)).size).toBe(2);
    expect(job.vms.map((v) => v.persistentDisk)).toEqual([{ path: DISK, format: 'qcow2' }, null]);

    for (const vm of job.vms) {
      const { dir, seedIso, overlay, mac, name, hostname } = vm.plan;
      expect(vm.disk).toBe(overlay);
      expect(readdirSync(dir).sort()).toEqual(['disk.qcow2', 'seed.iso', 'ssh_host_ed25519_key.pub']);
      const info = imgInfo(overlay);
      expect([info.format, info['backing-filename'], info['backing-filename-format']]).toEqual(['qcow2', BASE, 'qcow2']);
      // QEMU_USER owner: qemu runs as alice, libvirt chowns nothing.
      expect(config.QEMU_USER).toBe('owner');
      expect([mode(overlay), owner(overlay), mode(seedIso), owner(seedIso)]).toEqual([0o600, '1000:1000', 0o400, '1000:1000']);
      expect([mode(`${dir}/ssh_host_ed25519_key.pub`), owner(`${dir}/ssh_host_ed25519_key.pub`)]).toEqual([0o644, '0:0']);
      expect(execFileSync('isoinfo', ['-d', '-i', seedIso], { encoding: 'utf8' })).toMatch(/Volume id: cidata/);

      const userData = isoFile(seedIso, 'user-data');
      expect(userData.startsWith('#cloud-config\n')).toBe(true);
      const ud = yaml.load(userData) as Record<string, any>;
      expect(ud.users).toEqual([{ name: 'alice', uid: 1000, primary_group: 'alice', lock_passwd: true, shell: '/bin/bash' }]);
      expect(userData).not.toContain('ssh_authorized_keys');
      expect(ud.ssh_keys.ed25519_public).toBe(`${vm.hostKeyPublic} ${name}`);
      const files = Object.fromEntries((ud.write_files as { path: string; content: string }[]).map((f) => [f.path, f.content]));
      expect(files['/etc/ssh/authorized_keys/alice']).toBe(`${job.userKeyPublic}\n`);
      expect(files['/etc/ssh/sshd_config.d/50-vtorque.conf']).toContain('AuthorizedKeysFile /etc/ssh/authorized_keys/%u\n');
      expect(files['/var/spool/torque/vm/job.env']).toContain(`export PBS_JOBID=${plan.job.jobId}\n`);
      expect(ud.mounts).toEqual([['nfs1:/export/home', '/home', 'nfs', 'rw,noatime,nofail', '0', '0']]);
      expect(ud.resolv_conf).toEqual({ nameservers: ['10.0.0.2'], searchdomains: ['cluster.local'] });
      expect([ud.ntp, ud.packages]).toEqual([{ enabled: true, servers: ['ntp1.cluster.local'] }, ['htop']]);
      // The private host key in the seed belongs to the public one pinned in known_hosts.
      const keyFile = join(top, `hostkey-${name}`);
      writeFileSync(keyFile, ud.ssh_keys.ed25519_private, { mode: 0o600 });
      expect(execFileSync('ssh-keygen', ['-y', '-f', keyFile], { encoding: 'utf8' }).trim()).toBe(`${vm.hostKeyPublic} ${name}`);

      const meta = yaml.load(isoFile(seedIso, 'meta-data')) as Record<string, string>;
      expect(meta['instance-id']).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')}-[0-9a-f]{8}$`));
      expect(meta['local-hostname']).toBe(hostname);
      expect(yaml.load(isoFile(seedIso, 'network-config'))).toEqual({ version: 2, ethernets: { primary: { match: { macaddress: mac }, dhcp4: true } } });
    }

    const vm0 = plan.vms[0]!;
    writeFileSync(vm0.consoleLog, 'boot log');
    const removed = await removeJobFiles(config, plan.job.jobId, { keepLogs: true });
    expect(removed).toContain(job.userKeyPath);
    expect(readFileSync(vm0.consoleLog, 'utf8')).toBe('boot log');
    expect(readdirSync(plan.jobDir)).toEqual(['vms']);
    expect(readdirSync(vm0.dir)).toEqual(['console.log']);
    expect(await removeJobFiles(config, plan.job.jobId, { keepLogs: false })).toEqual([vm0.consoleLog, vm0.dir, join(plan.jobDir, 'vms'), plan.jobDir]);
    expect(await removeJobFiles(config, plan.job.jobId, { keepLogs: false })).toEqual([]);
  });

  it('given the job key another node made: writes it for the owner, derives its public half and authorizes that in every seed; refuses what is not a key', async () => {
    const made = setup({ disk: null });
    const first = await prepareJob(made.plan, made.ctx);
    const { config, plan, ctx } = setup({ disk: null });
    const job = await prepareJob(plan, { ...ctx, userKey: first.userKey });
    expect(job.userKey.equals(readFileSync(first.userKeyPath))).toBe(true);
    expect(job.userKeyPath).toBe(join(plan.jobDir, 'ssh', 'id_ed25519'));
    expect(readFileSync(job.userKeyPath).equals(first.userKey)).toBe(true);
    expect(readFileSync(`${job.userKeyPath}.pub`, 'utf8')).toBe(readFileSync(`${first.userKeyPath}.pub`, 'utf8'));
    expect(job.userKeyPublic).toBe(first.userKeyPublic);
    expect([mode(job.userKeyPath), owner(job.userKeyPath), mode(`${job.userKeyPath}.pub`), owner(`${job.userKeyPath}.pub`)]).toEqual([0o600, '1000:1000', 0o644, '1000:1000']);
    for (const vm of job.vms) {
      const files = (yaml.load(isoFile(vm.plan.seedIso, 'user-data')) as { write_files: { path: string; content: string }[] }).write_files;
      expect(files.find((f) => f.path === '/etc/ssh/authorized_keys/alice')?.content).toBe(`${first.userKeyPublic}\n`);
    }
    await removeJobFiles(config, plan.job.jobId, { keepLogs: false });
    for (const bad of [Buffer.from('not a key\n'), Buffer.alloc(0), Buffer.alloc(20_000, 65)]) {
      await expect(prepareJob(plan, { ...ctx, userKey: bad })).rejects.toThrow(/^the job key from the head is /);
      expect(existsSync(plan.jobDir)).toBe(false);
    }
  });

  it('starts clean on a retry and never follows a symlink planted in the job dir', async () => {
    const { config, plan, ctx } = setup({ disk: null });
    await prepareJob(plan, ctx);
    writeFileSync(join(plan.jobDir, 'stale'), '');
    const job = await prepareJob(plan, ctx);
    expect(existsSync(join(plan.jobDir, 'stale'))).toBe(false);
    expect(job.vms).toHaveLength(2);

    const outside = join(top, `outside-${seq}`);
    writeFileSync(outside, 'precious', { mode: 0o644 });
    symlinkSync(outside, join(plan.jobDir, 'vms', plan.vms[0]!.name, 'console.log'));
    symlinkSync(outside, join(plan.jobDir, 'evil'));
    await removeJobFiles(config, plan.job.jobId, { keepLogs: true });
    expect(existsSync(plan.jobDir)).toBe(false);
    expect([readFileSync(outside, 'utf8'), mode(outside), owner(outside)]).toEqual(['precious', 0o644, '0:0']);
  });

  it('QEMU_USER libvirt: overlays and seeds stay root 0600 (libvirt relabels them), and a disk= request is refused', async () => {
    const { plan, ctx } = setup({ disk: null }, {}, { QEMU_USER: 'libvirt' });
    const job = await prepareJob(plan, ctx);
    for (const vm of job.vms) {
      expect([mode(vm.disk), owner(vm.disk), mode(vm.plan.seedIso), owner(vm.plan.seedIso)]).toEqual([0o600, '0:0', 0o600, '0:0']);
    }
    for (const d of [plan.jobDir, ...plan.vms.map((v) => v.dir)]) expect([mode(d), owner(d)]).toEqual([0o711, '0:0']);

    const withDisk = setup({}, {}, { QEMU_USER: 'libvirt' });
    const err = await prepareJob(withDisk.plan, withDisk.ctx).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringMatching(/^disk .*data\.qcow2: persistent disks \(-vm disk=\) need QEMU_USER: owner/) });
    expect(existsSync(withDisk.plan.jobDir)).toBe(false);
    expect([mode(DISK), owner(DISK)]).toEqual([0o644, '1000:1000']);
  });

  it('QEMU_USER owner: refuses a pool image the owner\'s qemu could not read (sharedfs), naming the fix', async () => {
    const unreadable = join(pool, 'private.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', unreadable, '64M']);
    chmodSync(unreadable, 0o640);
    try {
      const { plan, ctx } = setup({ disk: null, img: 'private.qcow2' }, {}, {}, unreadable);
      await expect(prepareJob(plan, ctx)).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: `base image ${unreadable} is mode 0640: qemu runs as the job owner (QEMU_USER: owner) and cannot read it; fix with: chmod 0444 ${unreadable}`,
      });
      expect(existsSync(plan.jobDir)).toBe(false);
      // ramdisk: root copies it into the tmpfs (0644), so qemu never opens the pool file itself.
      const rd = setup({ disk: null, img: 'private.qcow2', fs_type: 'ramdisk', vms_per_node: 1 }, {}, {}, unreadable);
      await prepareJob(rd.plan, rd.ctx);
      await removeJobFiles(rd.config, rd.plan.job.jobId, { keepLogs: false });
      // QEMU_USER libvirt: libvirt relabels the backing chain for its own user.
      const lv = setup({ disk: null, img: 'private.qcow2', vms_per_node: 1 }, {}, { QEMU_USER: 'libvirt' }, unreadable);
      await prepareJob(lv.plan, lv.ctx);
      await removeJobFiles(lv.config, lv.plan.job.jobId, { keepLogs: false });
    } finally {
      rmSync(unreadable);
    }
  });

  describe('QEMU_USER job-uid', () => {
    const JOB_UID = { QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145000009' } as const;

    it('overlays (0600) and seeds (0400) belong to the job\'s own uid and the kvm group, not to the owner; dirs stay root 0711', async () => {
      const { config, plan, ctx } = setup({ disk: null }, {}, JOB_UID);
      expect(plan.qemuUid).toBe(2145000000);
      const job = await prepareJob(plan, { ...ctx, kvmGid: 107 });
      expect(job.qemu).toEqual({ uid: 2145000000, gid: 107 });
      for (const vm of job.vms) {
        expect([mode(vm.disk), owner(vm.disk), mode(vm.plan.seedIso), owner(vm.plan.seedIso)]).toEqual([0o600, '2145000000:107', 0o400, '2145000000:107']);
        expect([mode(vm.plan.dir), owner(vm.plan.dir)]).toEqual([0o711, '0:0']);
      }
      for (const d of [plan.jobDir, join(plan.jobDir, 'vms'), join(plan.jobDir, 'ssh')]) expect([mode(d), owner(d)]).toEqual([0o711, '0:0']);
      // The owner still gets the per-job SSH key (he logs into his VMs), nothing qemu opens.
      expect(owner(job.userKeyPath)).toBe('1000:1000');
      await removeJobFiles(config, plan.job.jobId, { keepLogs: false });

      // No kvm group: the gid is the uid's number.
      const nokvm = setup({ disk: null, vms_per_node: 1 }, {}, JOB_UID);
      const j2 = await prepareJob(nokvm.plan, { ...nokvm.ctx, kvmGid: null });
      expect(j2.qemu).toEqual({ uid: 2145000000, gid: 2145000000 });
      expect([owner(j2.vms[0]!.disk), owner(j2.vms[0]!.plan.seedIso)]).toEqual(['2145000000:2145000000', '2145000000:2145000000']);
      await removeJobFiles(nokvm.config, nokvm.plan.job.jobId, { keepLogs: false });
    });

    it('ramdisk: the overlays in the tmpfs are the job uid\'s too; the base copy stays root\'s 0644', async () => {
      const { config, plan, ctx } = setup({ fs_type: 'ramdisk', disk: null, vms_per_node: 1 }, {}, JOB_UID);
      const job = await prepareJob(plan, { ...ctx, kvmGid: 107 });
      expect([mode(job.vms[0]!.disk), owner(job.vms[0]!.disk)]).toEqual([0o600, '2145000000:107']);
      expect([mode(join(job.ramdisk!, 'base.qcow2')), owner(join(job.ramdisk!, 'base.qcow2'))]).toEqual([0o644, '0:0']);
      await removeJobFiles(config, plan.job.jobId, { keepLogs: false });
    });

    it('refuses a disk= request, naming the modes, and creates nothing', async () => {
      const { plan, ctx } = setup({}, {}, JOB_UID);
      const err = await prepareJob(plan, { ...ctx, kvmGid: 107 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringMatching(/^disk .*data\.qcow2: persistent disks \(-vm disk=\) need QEMU_USER: owner, and this site runs each job's qemu as a uid of its own .*\(QEMU_USER: job-uid\)/) });
      expect(existsSync(plan.jobDir)).toBe(false);
      expect([mode(DISK), owner(DISK)]).toEqual([0o644, '1000:1000']);
    });

    it('refuses a pool image others cannot read (sharedfs), naming the mode', async () => {
      const unreadable = join(pool, 'private-jobuid.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', unreadable, '64M']);
      chmodSync(unreadable, 0o640);
      try {
        const { plan, ctx } = setup({ disk: null, img: 'private-jobuid.qcow2' }, {}, JOB_UID, unreadable);
        await expect(prepareJob(plan, ctx)).rejects.toMatchObject({
          code: 'CONFIG_INVALID',
          message: `base image ${unreadable} is mode 0640: qemu runs as a per-job uid from QEMU_UIDS (QEMU_USER: job-uid) and cannot read it; fix with: chmod 0444 ${unreadable}`,
        });
        expect(existsSync(plan.jobDir)).toBe(false);
      } finally {
        rmSync(unreadable);
      }
    });

    it('refuses, before making anything, a uid that getent passwd finds (a real user\'s), naming the fix', async () => {
      // A real account at or above 1000 on this host (there is always nobody, 65534, on Debian).
      const real = execFileSync('getent', ['passwd'], { encoding: 'utf8' }).split('\n').map((l) => l.split(':')).find((f) => Number(f[2]) >= 1000 && Number(f[2]) < 2 ** 32 - 1);
      expect(real, 'a user with uid >= 1000 exists').toBeDefined();
      const [name, uid] = [real![0], Number(real![2])];
      const { plan, ctx } = setup({ disk: null }, {}, { QEMU_USER: 'job-uid', QEMU_UIDS: `${uid}-${uid}` });
      expect(plan.qemuUid).toBe(uid);
      const err = await prepareJob(plan, { ...ctx, kvmGid: 107 }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'CONFIG_INVALID',
        message: `QEMU_UIDS ${uid}-${uid} overlaps the user database: the job's qemu uid ${uid} is user ${name}'s, and QEMU_USER job-uid needs a uid that belongs to nobody; fix: set QEMU_UIDS to a range that no user's uid and no group's gid falls in (vtorque doctor lists the overlaps)`,
      });
      expect(existsSync(plan.jobDir)).toBe(false);
    });

    it('checkQemuUidUnowned: also the group database when the gid is the uid\'s number; a failing lookup refuses', async () => {
      const c = { QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145000009' } as const;
      const asked: string[] = [];
      const db = (entries: Record<string, string>) => async (d: 'passwd' | 'group', key: string) => {
        asked.push(`${d} ${key}`);
        const name = entries[`${d} ${key}`];
        return name === undefined ? null : { name, id: Number(key) };
      };
      await checkQemuUidUnowned({ uid: 2145000003, gid: 107 }, c, db({ 'group 107': 'kvm' }));
      expect(asked).toEqual(['passwd 2145000003']);
      await checkQemuUidUnowned({ uid: 2145000003, gid: 2145000003 }, c, db({}));
      await expect(checkQemuUidUnowned({ uid: 2145000003, gid: 2145000003 }, c, db({ 'group 2145000003': 'staff2' }))).rejects.toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringMatching(/^QEMU_UIDS 2145000000-2145000009 overlaps the group database: the job's qemu gid 2145000003 .* is group staff2's; fix: /),
      });
      await expect(checkQemuUidUnowned({ uid: 2145000003, gid: 107 }, c, () => Promise.reject(new Error('nss down')))).rejects.toThrow('nss down');
      // Other modes never ask.
      asked.length = 0;
      await checkQemuUidUnowned({ uid: 1000, gid: 1000 }, { ...c, QEMU_USER: 'owner' }, db({ 'passwd 1000': 'alice' }));
      expect(asked).toEqual([]);
    });
  });

  it('refuses a SPOOL_DIR others can write, naming the fix, and creates nothing', async () => {
    const { config, plan, ctx } = setup({ disk: null });
    mkdirSync(config.SPOOL_DIR, { mode: 0o775 });
    chmodSync(config.SPOOL_DIR, 0o775);
    await expect(prepareJob(plan, ctx)).rejects.toThrow(`SPOOL_DIR is writable by group or others (mode 0775); fix with: chmod go-w ${config.SPOOL_DIR}`);
    expect(readdirSync(config.SPOOL_DIR)).toEqual([]);
  });
});

describe('prepareJob: an image with vtorque-seed (SEED_CAPABILITY in its command line)', () => {
  const boot = { cmdline: `root=/dev/vda rw console=ttyS0 quiet ${SEED_CAPABILITY}` };
  const fastConfig = { NTP_SERVER_1: '', SW_PACKAGES_DEBIAN: [] };

  it('no packages or NTP: the seed carries vtorque/ (conf, manifest, files) beside user-data, and the VM boots with vtorque.seed=on', async () => {
    const { plan, ctx } = setup({ disk: null }, {}, fastConfig);
    const job = await prepareJob(plan, { ...ctx, boot });
    for (const vm of job.vms) {
      expect(vm.cmdline).toBe('root=/dev/vda rw console=ttyS0 quiet vtorque.seed=on cloud-init=disabled');
      const iso = vm.plan.seedIso;
      expect(isoFile(iso, 'vtorque/seed.conf')).toBe(`version=1\nuser=alice\nuid=1000\ngid=1000\ngroup=alice\nhostname=${vm.plan.hostname}\n`);
      const manifest = isoFile(iso, 'vtorque/files');
      expect(manifest).toMatch(/^0600 \/etc\/ssh\/ssh_host_ed25519_key$/m);
      expect(manifest).toMatch(/^0644 \/etc\/ssh\/authorized_keys\/alice$/m);
      expect(isoFile(iso, 'vtorque/root/etc/ssh/authorized_keys/alice')).toBe(`${job.userKeyPublic}\n`);
      expect(isoFile(iso, 'vtorque/root/etc/ssh/ssh_host_ed25519_key.pub').startsWith(vm.hostKeyPublic)).toBe(true);
      expect(isoFile(iso, 'vtorque/fstab')).toBe('nfs1:/export/home /home nfs rw,noatime,nofail 0 0\n');
      // cloud-init's user-data stays in the seed: the same seed boots an image without vtorque-seed.
      expect(isoFile(iso, 'user-data').startsWith('#cloud-config\n')).toBe(true);
      // The staging tree in the VM dir is gone once the ISO is built.
      expect(readdirSync(vm.plan.dir).sort()).toEqual(['disk.qcow2', 'seed.iso', 'ssh_host_ed25519_key.pub']);
    }
  });

  it('packages or NTP asked for: cloud-init starts the VM, the capability is dropped and the seed has no vtorque/', async () => {
    const { plan, ctx } = setup({ disk: null });
    const job = await prepareJob(plan, { ...ctx, boot });
    for (const vm of job.vms) {
      expect(vm.cmdline).toBe('root=/dev/vda rw console=ttyS0 quiet');
      expect(isoFile(vm.plan.seedIso, 'vtorque/seed.conf')).toBe(''); // isoinfo -x: nothing for a missing file
      expect(isoFile(vm.plan.seedIso, 'meta-data')).not.toBe('');
    }
  });

  it('an image without the capability is started by cloud-init, its command line as given', async () => {
    const { plan, ctx } = setup({ disk: null }, {}, fastConfig);
    const job = await prepareJob(plan, { ...ctx, boot: { cmdline: 'root=/dev/vda1 ro console=ttyS0' } });
    expect(job.vms.map((v) => v.cmdline)).toEqual(['root=/dev/vda1 ro console=ttyS0', 'root=/dev/vda1 ro console=ttyS0']);
    expect(isoFile(job.vms[0]!.plan.seedIso, 'vtorque/files')).toBe('');
  });
});

describe('prepareJob: a user image (ALLOW_USER_IMAGES)', () => {
  const USER = { ALLOW_USER_IMAGES: true } as const;
  const userImage = (name: string, uid = 1000): string => {
    const path = join(home, name);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '32M']);
    execFileSync('chown', [`${uid}:${uid}`, path]);
    return path;
  };
  const renderer = createRenderer(repo('templates-vm'));
  /** The rendered domain XML of the job's first VM, as the orchestrator builds it. */
  const domainXml = (plan: JobPlan, job: Awaited<ReturnType<typeof prepareJob>>, config: SiteConfig): string => {
    const vm = job.vms[0]!;
    return buildDomainXml(
      toDomainSpec(vm.plan, plan, { type: 'test', config, disk: vm.disk, backing: { file: job.backing, format: job.baseFormat }, seedIso: vm.plan.seedIso, boot: null, persistentDisk: null, qemu: job.qemu }),
      renderer,
    );
  };

  it('sharedfs: the overlays\' backing and the domain XML name only a root-owned copy in the job dir, never the user\'s path', async () => {
    const img = userImage('mine.qcow2');
    const { config, plan, ctx, logs } = setup({ disk: null, img }, {}, USER, img);
    const job = await prepareJob(plan, ctx);
    const copy = join(plan.jobDir, 'base.qcow2');
    expect([job.backing, job.baseFormat]).toEqual([copy, 'qcow2']);
    // QEMU_USER owner: qemu (alice, gid 1000) reads it through its group; root owns it.
    expect([mode(copy), owner(copy)]).toEqual([0o640, '0:1000']);
    expect(readFileSync(copy).equals(readFileSync(img))).toBe(true);
    for (const vm of job.vms) expect([imgInfo(vm.disk)['backing-filename'], imgInfo(vm.disk)['backing-filename-format']]).toEqual([copy, 'qcow2']);
    const xml = domainXml(plan, job, config);
    expect(xml).toContain(`<source file='${copy}'/>`);
    expect(xml).not.toContain(img);
    expect(xml).not.toContain('<kernel>');
    expect(logs).toContain('overlay backing file');
    // The user swaps his path for a symlink to /etc/shadow: nothing prepared names it.
    rmSync(img);
    symlinkSync('/etc/shadow', img);
    expect(readFileSync(copy).includes(readFileSync('/etc/shadow'))).toBe(false);
    for (const vm of job.vms) expect(imgInfo(vm.disk)['backing-filename']).toBe(copy);
    await removeJobFiles(config, plan.job.jobId, { keepLogs: false });
    expect(existsSync(plan.jobDir)).toBe(false);
    rmSync(img);
  });

  it('the copy is readable by qemu\'s group only: the kvm group with job-uid, nobody but root with QEMU_USER libvirt (libvirt relabels it)', async () => {
    const img = userImage('modes.qcow2');
    const ju = setup({ disk: null, img, vms_per_node: 1 }, {}, { ...USER, QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145000009' }, img);
    const j1 = await prepareJob(ju.plan, { ...ju.ctx, kvmGid: 107 });
    expect([mode(j1.backing), owner(j1.backing)]).toEqual([0o640, '0:107']);
    await removeJobFiles(ju.config, ju.plan.job.jobId, { keepLogs: false });
    const lv = setup({ disk: null, img, vms_per_node: 1 }, {}, { ...USER, QEMU_USER: 'libvirt' }, img);
    const j2 = await prepareJob(lv.plan, lv.ctx);
    expect([mode(j2.backing), owner(j2.backing)]).toEqual([0o600, '0:0']);
    expect(domainXml(lv.plan, j2, lv.config)).not.toContain(img);
    await removeJobFiles(lv.config, lv.plan.job.jobId, { keepLogs: false });
    rmSync(img);
  });

  it('ramdisk: the copy goes into the job\'s tmpfs (sized from its allocated bytes) and the overlays name it', async () => {
    const img = userImage('ram.qcow2');
    const { config, plan, ctx } = setup({ disk: null, img, fs_type: 'ramdisk', vms_per_node: 1 }, {}, USER, img);
    const job = await prepareJob(plan, ctx);
    const copy = join(job.ramdisk!, 'base.qcow2');
    expect([job.backing, mode(copy), owner(copy)]).toEqual([copy, 0o640, '0:1000']);
    expect(imgInfo(job.vms[0]!.disk)['backing-filename']).toBe(copy);
    expect(existsSync(join(plan.jobDir, 'base.qcow2'))).toBe(false);
    expect(domainXml(plan, job, config)).not.toContain(img);
    await removeJobFiles(config, plan.job.jobId, { keepLogs: false });
    expect(mountsUnder(config.RAMDISK_DIR)).toEqual([]);
    rmSync(img);
  });

  it('refuses, as the job\'s fault and before anything is made: no ALLOW_USER_IMAGES, a FIFO (without blocking), a symlink, root\'s file, one too large', async () => {
    const img = userImage('refused.qcow2');
    const off = setup({ disk: null, img }, {}, {}, img);
    await expect(prepareJob(off.plan, off.ctx)).rejects.toMatchObject({ code: 'IMAGE_NOT_AUTHORIZED', fault: 'job' });
    expect(existsSync(off.plan.jobDir)).toBe(false);

    const fifo = join(home, 'fifo.qcow2');
    execFileSync('mkfifo', [fifo]);
    execFileSync('chown', ['1000:1000', fifo]);
    const link = join(home, 'link.qcow2');
    symlinkSync('/etc/shadow', link);
    const rootFile = userImage('root.qcow2', 0);
    const cases: [string, RegExp, Partial<SiteConfig>][] = [
      [fifo, /is not a regular file/, {}],
      [link, /is a symbolic link/, {}],
      [rootFile, /is owned by uid 0, not by the job owner \(uid 1000\)/, {}],
      [img, /more than USER_IMAGE_MAX_MB \(64\)$/, { USER_IMAGE_MAX_MB: 64 }],
    ];
    // 65 MiB of data: more than USER_IMAGE_MAX_MB 64 on disk.
    execFileSync('dd', ['if=/dev/urandom', `of=${img}`, 'bs=1M', 'count=65', 'status=none', 'conv=notrunc']);
    for (const [path, why, over] of cases) {
      const { plan, ctx } = setup({ disk: null, img: path }, {}, { ...USER, ...over }, path);
      const t0 = performance.now();
      await expect(prepareJob(plan, ctx)).rejects.toMatchObject({ code: 'REQUEST_INVALID', fault: 'job', message: expect.stringMatching(why) });
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(existsSync(plan.jobDir)).toBe(false);
    }
    for (const p of [img, fifo, link, rootFile]) rmSync(p);
  });
});

describe('prepareJob (ramdisk)', () => {
  it('mounts a size-limited tmpfs holding the base copy and the overlays; removeJobFiles unmounts it', async () => {
    const { config, plan, ctx } = setup({ fs_type: 'ramdisk', disk: null });
    const t0 = performance.now();
    const job = await prepareJob(plan, ctx);
    console.info(`prepareJob, 2 VMs, ramdisk: ${Math.round(performance.now() - t0)} ms`);
    const dir = job.ramdisk!;
    expect(dir).toBe(join(config.RAMDISK_DIR, plan.job.jobId));
    const [mnt] = mountsUnder(dir);
    expect(mnt?.fsType).toBe('tmpfs');
    expect(mnt?.superOptions).toMatch(/(^|,)size=1115136k(,|$)/); // 1 MiB base + 64 + 2 x 512
    expect(mnt?.superOptions).toMatch(/(^|,)mode=711(,|$)/);
    expect(readdirSync(dir).sort()).toEqual(['base.qcow2', ...plan.vms.map((v) => `${v.name}.qcow2`)].sort());
    // The base copy stays root's and world-readable; each overlay is the owner's (QEMU_USER owner).
    expect([mode(join(dir, 'base.qcow2')), owner(join(dir, 'base.qcow2'))]).toEqual([0o644, '0:0']);
    expect([mode(dir), owner(dir)]).toEqual([0o711, '0:0']);
    for (const vm of job.vms) {
      expect(vm.disk).toBe(join(dir, `${vm.plan.name}.qcow2`));
      expect(imgInfo(vm.disk)['backing-filename']).toBe(join(dir, 'base.qcow2'));
      expect([mode(vm.disk), owner(vm.disk), mode(vm.plan.seedIso), owner(vm.plan.seedIso)]).toEqual([0o600, '1000:1000', 0o400, '1000:1000']);
      expect(existsSync(vm.plan.overlay)).toBe(false);
    }
    const removed = await removeJobFiles(config, plan.job.jobId, { keepLogs: false });
    expect(removed).toContain(dir);
    expect(mountsUnder(config.RAMDISK_DIR)).toEqual([]);
    expect([existsSync(dir), existsSync(plan.jobDir)]).toEqual([false, false]);
    expect(await removeJobFiles(config, plan.job.jobId, { keepLogs: false })).toEqual([]);
  });

  it('removes everything, mount included, when the second VM\'s seed fails', async () => {
    const fake = join(top, 'fake-genisoimage');
    writeFileSync(fake, '#!/bin/sh\ncase "$(pwd -P)" in *-2) echo "injected seed failure" >&2; exit 3;; esac\nexec /usr/bin/genisoimage "$@"\n', { mode: 0o755 });
    const { config, plan, ctx } = setup({ fs_type: 'ramdisk' }, { genisoimage: fake });
    await expect(prepareJob(plan, ctx)).rejects.toThrow(/injected seed failure/);
    expect(readdirSync(join(config.SPOOL_DIR, 'jobs'))).toEqual([]);
    expect(mountsUnder(config.RAMDISK_DIR)).toEqual([]);
    expect(readdirSync(config.RAMDISK_DIR)).toEqual([]);
  });
});
