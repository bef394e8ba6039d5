import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { hasSeedCapability } from '../../core/contract/guest-seed.v1.js';
import { VtorqueError } from '../../core/errors.js';
import type { SiteConfig } from '../../core/config/index.js';
import { mkdirPrivate, pathElements, ROOT_OWNER, setOwnerMode, unlinkNoFollow, type OpenedFile } from '../../core/fs/index.js';
import { keyOnly } from '../../core/ssh/host-key.js';
import { lookupId, type IdDatabase, type IdEntry } from '../../core/node/ids.js';
import { buildJobEnv, buildMetaData, buildNetworkConfig, buildUserData, buildFastSeed, fastSeedCovers } from '../../guest/index.js';
import { qemuIdentity, qemuUserText, type QemuIdentity } from '../qemu-identity.js';
import type { JobPlan, VmPlan } from '../types.js';
import { buildGuestSpec } from './build-guest-spec.js';
import { copyImageFd, copyUserImage, createOverlay, inImagePool, openImage, openUserImage, type UserImage } from './image.js';
import { generateHostKey, generateUserKey, writeKnownHosts, writeUserKey } from './keys.js';
import { validatePersistentDisk } from './persistent-disk.js';
import { baseCopyPath, ramdiskPath, setUpRamdisk } from './ramdisk.js';
import { jobDirPath, removeJobFiles } from './remove-job-files.js';
import { buildSeedIso, seedCmdline } from './seed.js';
import { ensureRootDir } from './spool.js';
import { resolveTools } from './tools.js';
import type { ImageFormat, PersistentDisk, PrepareContext, PreparedJob, PreparedVm, PrepareTools } from './types.js';

const MIB = 1024 * 1024;

/** What every VM's preparation shares. */
interface JobScope {
  readonly plan: JobPlan;
  readonly ctx: PrepareContext;
  readonly tools: PrepareTools;
  readonly userKeyPublic: string;
  readonly envFile: string;
  /**
   * Absolute backing file of every overlay, always root-owned: the pool image, its copy in the
   * tmpfs, or the root-owned copy of a user's image (never the user's path).
   */
  readonly backing: string;
  readonly format: ImageFormat;
  readonly ramdisk: string | null;
  readonly disks: ReadonlyMap<string, PersistentDisk>;
  /**
   * Who qemu runs as (QEMU_USER owner: the job owner; job-uid: the job's own uid), who gets the
   * overlay (0600) and the seed (0400); null with QEMU_USER libvirt (root's, libvirt relabels).
   */
  readonly qemu: QemuIdentity | null;
}

/**
 * Make everything a job's VMs need on this node, root-side and from a clean slate: the job
 * directory, the per-job user key (made here, or ctx.userKey written), each VM's host key, overlay
 * and NoCloud seed, known_hosts, and for fs_type=ramdisk a tmpfs holding the base copy and the
 * overlays. On any failure everything
 * made so far is removed before the error is rethrown.
 */
export async function prepareJob(plan: JobPlan, ctx: PrepareContext): Promise<PreparedJob> {
  const { config } = ctx;
  const tools = resolveTools(ctx.tools);
  checkPlanPaths(plan, ctx);
  ensureRootDir(config.SPOOL_DIR, 'SPOOL_DIR');
  // A prologue retry finds the previous attempt's files: start clean.
  await removeJobFiles(config, plan.job.jobId, { keepLogs: false, tools, log: ctx.log });
  const started = performance.now();
  try {
    const job = await prepareFiles(plan, ctx, tools);
    ctx.log('prepared job files', { jobId: plan.job.jobId, vms: job.vms.length, ramdisk: job.ramdisk, ms: Math.round(performance.now() - started) });
    return job;
  } catch (err) {
    try {
      await removeJobFiles(config, plan.job.jobId, { keepLogs: false, tools, log: ctx.log });
    } catch (cleanup) {
      ctx.log('removing the half-prepared job files failed', { jobId: plan.job.jobId, err: String(cleanup) });
    }
    throw err;
  }
}

/** The planner's paths must be the ones removeJobFiles will find: one element per name, in place. */
function checkPlanPaths(plan: JobPlan, ctx: PrepareContext): void {
  const jobDir = jobDirPath(ctx.config, plan.job.jobId);
  const bad = (what: string) => new VtorqueError('INTERNAL', `job plan: ${what} is not where prepare keeps it (job dir ${jobDir})`, { fault: 'node' });
  if (plan.jobDir !== jobDir) throw bad(`jobDir ${plan.jobDir}`);
  for (const vm of plan.vms) {
    pathElements(vm.dir);
    if (vm.dir !== join(jobDir, 'vms', vm.name)) throw bad(`${vm.name} dir ${vm.dir}`);
    for (const file of [vm.overlay, vm.seedIso, vm.consoleLog]) if (dirname(file) !== vm.dir) throw bad(`${vm.name} file ${file}`);
  }
}

async function prepareFiles(plan: JobPlan, ctx: PrepareContext, tools: PrepareTools): Promise<PreparedJob> {
  const { config: c } = ctx;
  const owner = plan.job.owner;
  const disks = new Map<string, PersistentDisk>();
  for (const vm of plan.vms) if (vm.persistentDisk !== null) disks.set(vm.name, await validatePersistentDisk(vm.persistentDisk, owner, c, tools));
  // Who must own the files qemu writes or reads: with QEMU_USER owner or job-uid libvirt chowns
  // nothing, so the overlay and the seed are qemu's identity's; the directories stay root 0711
  // (qemu only traverses them), a pool image and its tmpfs copy stay root's and world-readable, a
  // copy of a user's image is root's and readable by qemu's group only. With QEMU_USER libvirt
  // every file stays root's and libvirt relabels.
  const qemu = qemuIdentity(plan, c, ctx.kvmGid ?? null);
  await checkQemuUidUnowned(qemu, c);
  const base = await openBase(plan, ctx, tools, qemu !== null && plan.request.fs_type !== 'ramdisk');
  try {
    const sshDir = join(plan.jobDir, 'ssh');
    for (const dir of [join(c.SPOOL_DIR, 'jobs'), plan.jobDir, sshDir, join(plan.jobDir, 'vms')]) mkdirPrivate(dir, 0o711);
    // One key per job: the node of rank 0 makes it, the head gives it to every other node.
    const userKey = ctx.userKey ? await writeUserKey(sshDir, ctx.userKey, owner, tools) : await generateUserKey(sshDir, plan.job.jobId, owner, tools);
    const ramdisk = plan.request.fs_type === 'ramdisk' ? ramdiskPath(c, plan.job.jobId) : null;
    const { backing, format } = await placeBacking(plan, c, base, ramdisk, qemu, tools);
    const scope: JobScope = {
      plan, ctx, tools, backing, ramdisk, disks, format,
      qemu,
      userKeyPublic: userKey.publicKey,
      envFile: buildJobEnv(ctx.guestEnv, ctx.renderTemplates),
    };
    const vms = await settleAll(plan.vms.map((vm) => () => prepareVm(vm, scope)), c.PARALLEL ? 4 : 1, ctx);
    const knownHostsPath = join(sshDir, 'known_hosts');
    writeKnownHosts(knownHostsPath, vms.map((v) => ({ name: v.plan.name, key: v.hostKeyPublic })));
    ctx.log('overlay backing file', { jobId: plan.job.jobId, backing, format, userImage: base.user !== null });
    return { plan, userKeyPath: userKey.path, userKeyPublic: userKey.publicKey, userKey: userKey.privateKey, knownHostsPath, vms, ramdisk, baseFormat: format, backing, qemu };
  } finally {
    base.file.close();
  }
}

/**
 * QEMU_USER job-uid: the planner took a uid from QEMU_UIDS that no domain holds, but only the user
 * database knows whether a real user has it (then his processes could ptrace that qemu and his
 * files would be its files): refuse before anything is made, naming the fix. The same for the gid
 * when it is the uid's number (no kvm group). A failing lookup refuses too.
 */
export async function checkQemuUidUnowned(
  qemu: QemuIdentity | null,
  c: Pick<SiteConfig, 'QEMU_USER' | 'QEMU_UIDS'>,
  lookup: (db: IdDatabase, key: string) => Promise<IdEntry | null> = lookupId,
): Promise<void> {
  if (c.QEMU_USER !== 'job-uid' || qemu === null) return;
  const fix = `fix: set QEMU_UIDS to a range that no user's uid and no group's gid falls in (vtorque doctor lists the overlaps)`;
  const user = await lookup('passwd', String(qemu.uid));
  if (user) {
    throw new VtorqueError('CONFIG_INVALID', `QEMU_UIDS ${c.QEMU_UIDS} overlaps the user database: the job's qemu uid ${qemu.uid} is user ${user.name}'s, and QEMU_USER job-uid needs a uid that belongs to nobody; ${fix}`, { fault: 'node' });
  }
  if (qemu.gid === qemu.uid) {
    const group = await lookup('group', String(qemu.gid));
    if (group) {
      throw new VtorqueError('CONFIG_INVALID', `QEMU_UIDS ${c.QEMU_UIDS} overlaps the group database: the job's qemu gid ${qemu.gid} (no kvm group, so the uid's number) is group ${group.name}'s; ${fix}`, { fault: 'node' });
    }
  }
}

/** The base image as it was opened and checked: the descriptor every copy is made from. */
interface OpenedBase {
  readonly file: OpenedFile;
  /** From the header (and, for a pool image, qemu-img info on the opened file). */
  readonly format: ImageFormat;
  /** Bytes allocated on disk: the room its tmpfs copy needs. */
  readonly actualSize: number;
  /** Set for a user's image (ALLOW_USER_IMAGES): used only through its root-owned copy. */
  readonly user: UserImage | null;
}

/**
 * Pool images sit directly in the root-owned VM_IMG_DIR; others only with ALLOW_USER_IMAGES, as
 * the owner's own regular file (openUserImage: nothing but its header is read here). `qemuReadsIt`:
 * a non-root qemu (QEMU_USER owner or job-uid, sharedfs) opens the pool image itself as the
 * overlay's backing file, so it must be readable by others (vmgr add makes it 0444).
 */
async function openBase(plan: JobPlan, ctx: PrepareContext, tools: PrepareTools, qemuReadsIt: boolean): Promise<OpenedBase> {
  const c = ctx.config;
  if (!inImagePool(c.VM_IMG_DIR, plan.baseImage)) {
    if (!c.ALLOW_USER_IMAGES) throw new VtorqueError('IMAGE_NOT_AUTHORIZED', `base image ${plan.baseImage} is not in VM_IMG_DIR (${c.VM_IMG_DIR})`, { fault: 'job' });
    const user = openUserImage(plan.baseImage, plan.job.owner, c.USER_IMAGE_MAX_MB * MIB);
    return { file: user.file, format: user.format, actualSize: user.allocated, user };
  }
  const check = (f: OpenedFile): void => {
    if (qemuReadsIt && (f.stat.mode & 0o004) === 0) {
      const mode = (f.stat.mode & 0o7777).toString(8).padStart(4, '0');
      throw new VtorqueError('CONFIG_INVALID', `base image ${plan.baseImage} is mode ${mode}: ${qemuUserText(c.QEMU_USER).runsAs} and cannot read it; fix with: chmod 0444 ${plan.baseImage}`, { fault: 'node' });
    }
  };
  const { file, info } = await openImage(plan.baseImage, { label: 'base image', code: 'CONFIG_INVALID', trusted: true, check, fault: 'node' }, tools);
  return { file, format: info.format, actualSize: info.actualSize, user: null };
}

/**
 * Where the overlays' backing file is, always a root-owned file: a pool image in place (sharedfs)
 * or its copy in the job's tmpfs (ramdisk, root 0644). A user's image is never used in place: it
 * is copied from its checked descriptor into the job's root-owned directory (its tmpfs, else the
 * job dir) and checked again as that copy (copyUserImage), so a path swapped afterwards (for a
 * symlink to /etc/shadow, a FIFO, another header) reaches neither qemu-img nor libvirt. The copy
 * is root:<qemu's gid> 0640 when qemu runs as its own identity (QEMU_USER owner or job-uid), root
 * 0600 with QEMU_USER libvirt (libvirt relabels it, and only it).
 */
async function placeBacking(plan: JobPlan, c: SiteConfig, base: OpenedBase, ramdisk: string | null, qemu: QemuIdentity | null, tools: PrepareTools): Promise<{ backing: string; format: ImageFormat }> {
  if (ramdisk) await setUpRamdisk(ramdisk, c, { format: base.format, actualSize: base.actualSize }, plan.vms.length, tools);
  const dir = ramdisk ?? (base.user ? plan.jobDir : null);
  if (dir === null) return { backing: plan.baseImage, format: base.format };
  const copy = baseCopyPath(dir, base.format);
  if (base.user === null) {
    await copyImageFd(base.file, copy, tools);
    setOwnerMode(copy, ROOT_OWNER, 0o644);
    return { backing: copy, format: base.format };
  }
  const info = await copyUserImage(base.user, copy, c.USER_IMAGE_MAX_MB * MIB, tools);
  setOwnerMode(copy, { uid: 0, gid: qemu?.gid ?? 0 }, qemu ? 0o640 : 0o600);
  return { backing: copy, format: info.format };
}

/** Run with a concurrency limit and wait for every task (none may still write while we clean up); rethrow the first failure. */
async function settleAll<T>(tasks: (() => Promise<T>)[], concurrency: number, ctx: PrepareContext): Promise<T[]> {
  const limit = pLimit(concurrency);
  const results = await Promise.allSettled(tasks.map((t) => limit(t)));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 1) ctx.log('more than one VM failed to prepare', { errors: failures.map((f) => String(f.reason)) });
  if (failures[0]) throw failures[0].reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

async function prepareVm(vm: VmPlan, s: JobScope): Promise<PreparedVm> {
  const started = performance.now();
  mkdirPrivate(vm.dir, 0o711);
  const hostKey = await generateHostKey(vm.dir, vm.name, s.tools);
  const disk = s.ramdisk ? join(s.ramdisk, `${vm.name}.qcow2`) : vm.overlay;
  await createOverlay(s.tools, s.backing, s.format, disk, s.qemu);
  const spec = buildGuestSpec({
    plan: s.plan, vm, config: s.ctx.config, hostKey, envFile: s.envFile,
    userKeyPublic: s.userKeyPublic,
    instanceSuffix: randomBytes(4).toString('hex'),
  });
  // vtorque-seed when the image has it and the VM needs nothing only cloud-init does (packages,
  // NTP, a user's cloud-config); the seed carries cloud-init's user-data either way.
  const boot = s.ctx.boot ?? null;
  const fastSeed = boot !== null && hasSeedCapability(boot.cmdline) && s.tools.genisoimage !== null && fastSeedCovers(spec);
  const files = {
    userData: buildUserData(spec, s.ctx.userDataBase), metaData: buildMetaData(spec), networkConfig: buildNetworkConfig(vm.mac),
    ...(fastSeed ? { fast: buildFastSeed(spec) } : {}),
  };
  await buildSeedIso(vm.dir, vm.seedIso, files, s.tools, s.qemu);
  unlinkNoFollow(hostKey.privatePath);
  s.ctx.log('prepared VM files', { vm: vm.name, disk, fastSeed, ms: Math.round(performance.now() - started) });
  return { plan: vm, hostKeyPublic: keyOnly(hostKey.publicKey), disk, persistentDisk: s.disks.get(vm.name) ?? null, cmdline: boot === null ? null : seedCmdline(boot.cmdline, fastSeed), fastSeed };
}
