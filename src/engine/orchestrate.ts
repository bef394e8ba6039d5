import pLimit from 'p-limit';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../core/config/index.js';
import { STATE_FILES, type VmRecord } from '../core/contract/job-state.v1.js';
import { readFileNoFollow, writeFileExclusive } from '../core/fs/index.js';
import { buildDomainXml } from '../core/libvirt/index.js';
import type { Renderer } from '../core/render/index.js';
import type { VmRequest } from '../core/request/index.js';
import { NODE_FILE_DIR } from '../core/contract/guest-layout.v1.js';
import type { UserDataBase } from '../guest/index.js';
import { bootVms } from './boot/index.js';
import { BootWatch, CLOUD_INIT_DONE, forgetArp, forgetNeighboursOf, HostUnreachableError, ipsOfMacs, leaseLookup, waitForIps, waitForSsh } from './discover/index.js';
import { toDomainSpec, type EngineLog, type LibvirtNode } from './libvirt/index.js';
import { customMacs } from './custom-mac.js';
import { vmNodeFile, writeGuestFile } from './guest-files.js';
import { jobDirName } from './naming.js';
import { planJob } from './plan.js';
import { ensureRootDir, jobDirPath, type PreparedJob, prepareJob, removeJobFiles, virtiofsShares } from './prepare/index.js';
import { withNodeLock } from '../core/node/lock.js';
import { kvmGroupGid } from '../core/node/ids.js';
import { teardownJob } from './teardown/index.js';
import { bootTimesKey, measuredPhases, quietLimit, readBootTimes, recordBootTimes, Timeline, type PhaseMark } from './timeline.js';
import type { DomainType, JobIdentity, JobPlan, NodeState } from './types.js';

export interface EngineContext {
  readonly config: SiteConfig;
  readonly libvirt: LibvirtNode;
  readonly domainType: DomainType;
  readonly renderTemplates: Renderer;
  readonly renderTemplatesVm: Renderer;
  readonly userDataBase: UserDataBase;
  readonly log: EngineLog;
  /** Human progress lines (phase, VM, elapsed) for the job's own output. */
  readonly progress?: (line: string) => void;
  /**
   * QEMU_USER job-uid: the host's kvm group id (qemu's gid; null: no kvm group, the gid is the
   * uid's number), resolved once when the context is made. Absent: startJobVms looks it up.
   */
  readonly kvmGid?: number | null;
}

export interface StartInput {
  readonly job: JobIdentity;
  readonly request: VmRequest;
  /**
   * The job's nodes, or how to observe them: a function is called under the node lock, so two
   * jobs starting at once on a node never plan against the same free CPUs and MACs.
   */
  readonly nodes: readonly NodeState[] | (() => Promise<readonly NodeState[]>);
  readonly baseImage: string;
  /**
   * Direct kernel boot files of the image, when the pool has them beside it (prepare decides each
   * VM's command line from the image's: vtorque-seed or cloud-init).
   */
  readonly boot: { readonly kernel: string; readonly initrd: string; readonly cmdline: string } | null;
  readonly guestEnv: Readonly<Record<string, string>>;
  readonly uuid: () => string;
  /**
   * Date.now() by which the start has finished or failed (and torn down): the hard bound of every
   * wait. Each libvirt step and the node lock also have TIMEOUT at most.
   */
  readonly deadlineAt: number;
  /** Aborts the waits for addresses and SSH (a cancelled job); the start then tears down. */
  readonly signal?: AbortSignal;
  /**
   * Called under the node lock once the plan exists and before anything is made for it: the
   * caller records what teardown will need (VM names, qemu uid). A throw ends the start.
   */
  readonly onPlanned?: (plan: JobPlan) => void;
}

export type { VmRecord } from '../core/contract/job-state.v1.js';

export interface StartedJob {
  readonly plan: JobPlan;
  readonly prepared: PreparedJob;
  readonly vms: readonly VmRecord[];
  readonly timeline: readonly PhaseMark[];
}

/** The job's VM records (contract job-state.v1). */
export const VMS_FILE = STATE_FILES.vms;
/** A progress line per waiting VM at least this often while the start waits for addresses and SSH. */
export const PROGRESS_EVERY_MS = 10_000;
/** SSH answered only "host unreachable" for this long (and 3 attempts): the address is resolved again. */
export const UNREACHABLE_RESOLVE_MS = 8000;
/** In SPOOL_DIR: held while a job observes the node and defines its domains. */
export const NODE_LOCK_FILE = 'node.lock';

/**
 * plan → prepare → boot → ready for one job, under one overall deadline (input.deadlineAt). The
 * node lock and libvirt steps have a per-step limit (TIMEOUT); the waits for addresses and SSH
 * give a VM up when it shows no sign of life for its quiet limit (quietLimit: measured phase
 * times with headroom), never past the overall deadline. Any failure tears down whatever was made
 * before the error propagates.
 */
export async function startJobVms(input: StartInput, ctx: EngineContext): Promise<StartedJob> {
  const c = ctx.config;
  const t = new Timeline();
  const deadline = input.deadlineAt - Date.now();
  const left = (): number => Math.max(1, Math.min(c.TIMEOUT * 1000, deadline - t.elapsedMs()));
  const say = (line: string): void => ctx.progress?.(`[vtorque ${(t.elapsedMs() / 1000).toFixed(1)}s] ${line}`);

  // Observe → plan → prepare → define/start under the node lock: the next job's plan sees these
  // domains (their MACs, their pinned CPUs, their QEMU_USER job-uid uids). The long waits (IP,
  // SSH) run after its release.
  ensureRootDir(c.SPOOL_DIR, 'SPOOL_DIR');
  const kvmGid = c.QEMU_USER !== 'job-uid' ? null : ctx.kvmGid !== undefined ? ctx.kvmGid : await kvmGroupGid();
  // Set once the plan exists: from then on a failure tears down whatever was made.
  const made: { plan?: JobPlan } = {};
  try {
    const { plan, prepared: ready, domains, bootSince, stale, startedAt } = await withNodeLock(
      join(c.SPOOL_DIR, NODE_LOCK_FILE),
      { timeoutMs: left(), onWait: () => say('another job is starting VMs on this node; waiting for the node lock') },
      async (held) => {
        if (held.waitedMs >= 200) ctx.log.info({ phase: 'lock', elapsedMs: held.waitedMs }, 'node lock taken');
        const plan = await t.phase('plan', async () => {
          const nodes = typeof input.nodes === 'function' ? await input.nodes() : input.nodes;
          const macs = c.CUSTOM_IP_MAPPING ? await customMacs(c, nodes.map((n) => n.name), input.request.vms_per_node) : undefined;
          return planJob({ job: input.job, request: input.request, config: c, nodes, baseImage: input.baseImage, uuid: input.uuid }, macs);
        });
        made.plan = plan;
        input.onPlanned?.(plan);
        say(`planned ${plan.vms.length} VM(s): ${plan.vms.map((v) => `${v.name} (${v.vcpus} vCPU, ${v.memoryMiB} MiB)`).join(', ')}`);
        const prepared = await t.phase('prepare', () =>
          prepareJob(plan, {
            config: c,
            userDataBase: ctx.userDataBase,
            guestEnv: input.guestEnv,
            renderTemplates: ctx.renderTemplates,
            log: (msg, fields) => ctx.log.info(fields ?? {}, msg),
            kvmGid,
            boot: input.boot && { cmdline: input.boot.cmdline },
          }),
        );
        const shares = virtiofsShares(c).map((s) => ({ dir: s.dir, tag: s.tag }));
        say('disks and seeds ready; starting VMs');
        if (prepared.qemu) ctx.log.info({ uid: prepared.qemu.uid, gid: prepared.qemu.gid, mode: c.QEMU_USER }, 'qemu identity');
        // qemu runs under the very identity prepare gave the overlay and the seed to.
        const domains = prepared.vms.map((vm) => ({
          name: vm.plan.name,
          xml: buildDomainXml(
            toDomainSpec(vm.plan, plan, { type: ctx.domainType, config: c, disk: vm.disk, backing: { file: prepared.backing, format: prepared.baseFormat }, seedIso: vm.plan.seedIso, boot: input.boot && { ...input.boot, cmdline: vm.cmdline ?? input.boot.cmdline }, persistentDisk: vm.persistentDisk, virtiofs: shares, qemu: prepared.qemu }),
            ctx.renderTemplatesVm,
          ),
        }));
        // Addresses of this boot only: the MACs' neighbour entries go before the start (a repeated
        // or requeued start has the same MACs), and nothing learned before `bootSince` counts.
        const forgotten = ctx.domainType === 'test' ? { removed: [], stale: new Set<string>() } : await forgetNeighboursOf(plan.vms.map((v) => v.mac), { log: ctx.log });
        if (forgotten.removed.length > 0) ctx.log.info({ phase: 'ip', removed: forgotten.removed }, "removed the VMs' MACs' neighbour entries from before the start");
        if (forgotten.stale.size > 0) ctx.log.warn({ phase: 'ip', stale: [...forgotten.stale] }, 'neighbour entries from before the start could not be removed; they are ignored');
        const bootSince = Date.now();
        await t.phase('boot', () => bootVms(ctx.libvirt, domains, { parallel: c.PARALLEL ? 8 : 1, deadlineMs: left(), log: ctx.log }));
        return { plan, prepared, domains, bootSince, stale: forgotten.stale, startedAt: performance.now() };
      },
    );
    say(`${domains.length} VM(s) running; waiting for their addresses`);

    let ips = new Map<string, string>();
    if (ctx.domainType !== 'test') {
      ips = await waitUntilReachable(input, ctx, { plan, ready, bootSince, stale, startedAt, t, say, deadlineAt: performance.now() + Math.max(1, deadline - t.elapsedMs()) });
      say('all VMs accept SSH');
      const key = readFileSync(ready.userKeyPath);
      const limit = pLimit(c.PARALLEL ? 8 : 1);
      const nodeFile = vmNodeFile(plan.vms.map((v) => ({ ip: ips.get(v.mac) ?? null, vcpus: v.vcpus })));
      const guestPath = `${NODE_FILE_DIR}/${jobDirName(input.job.jobId)}`;
      await t.phase('nodefile', () =>
        Promise.all(
          ready.vms.map((vm) =>
            limit(() => writeGuestFile({ host: ips.get(vm.plan.mac) as string, user: input.job.owner.user, privateKey: key, hostKey: vm.hostKeyPublic, timeoutMs: left() }, guestPath, nodeFile)),
          ),
        ),
      );
      say(`VM node file written to ${guestPath} in every VM`);
    }
    const vms = ready.vms.map((vm): VmRecord => ({
      name: vm.plan.name,
      node: vm.plan.node,
      rank: vm.plan.rank,
      hostname: vm.plan.hostname,
      mac: vm.plan.mac,
      ip: ips.get(vm.plan.mac) ?? null,
      vcpus: vm.plan.vcpus,
      hostKey: vm.hostKeyPublic,
      persistentDisk: vm.persistentDisk !== null,
    }));
    writeFileExclusive(join(plan.jobDir, VMS_FILE), `${JSON.stringify(vms, null, 2)}\n`, 0o644);
    return { plan, prepared: ready, vms, timeline: t.marks };
  } catch (err) {
    if (made.plan === undefined) throw err; // no lock, or no plan: nothing was made
    say(`start failed after ${(t.elapsedMs() / 1000).toFixed(1)} s: ${err instanceof Error ? err.message : String(err)}; tearing down`);
    await stopJobVms(input.job.jobId, ctx, { keepLogs: input.request.debug }).catch((e: unknown) => ctx.log.warn({ err: String(e) }, 'teardown after a failed start failed'));
    throw err;
  }
}

interface Booted {
  readonly plan: JobPlan;
  readonly ready: PreparedJob;
  /** Date.now() just before the domains were started: what was learned before belongs to another boot. */
  readonly bootSince: number;
  /** `mac ip` neighbour entries from before the start that could not be removed. */
  readonly stale: ReadonlySet<string>;
  /** performance.now() once the domains were running. */
  readonly startedAt: number;
  /** performance.now() of the overall deadline. */
  readonly deadlineAt: number;
  readonly t: Timeline;
  readonly say: (line: string) => void;
}

/**
 * The addresses of this boot, then SSH, for every VM. A VM is given up when it shows no sign of
 * life (console output, an address, SSH getting further) for its phase's quiet limit, measured
 * phase times with headroom (quietLimit), never past the overall deadline; a progress line per
 * waiting VM every PROGRESS_EVERY_MS. An address that answers only "host unreachable" is
 * resolved again (never the same one unless learned anew). Records the phase times when done.
 */
async function waitUntilReachable(input: StartInput, ctx: EngineContext, b: Booted): Promise<Map<string, string>> {
  const c = ctx.config;
  const { plan, ready, t, say } = b;
  const timesKey = bootTimesKey(input.baseImage, ctx.domainType, ready.vms.every((vm) => vm.fastSeed) ? 'fast' : 'cloud-init');
  const measured = measuredPhases(readBootTimes(c.SPOOL_DIR, timesKey));
  const limits = { headroom: c.BOOT_HEADROOM, minMs: c.BOOT_MIN_WAIT * 1000, unmeasuredMs: c.TIMEOUT * 1000 };
  const watch = new BootWatch(
    plan.vms.map((v) => ({ name: v.name, node: v.node, mac: v.mac, consoleLog: v.consoleLog })),
    { startedMs: b.startedAt, limit: (phase, ipTookMs) => quietLimit(phase, measured, ipTookMs === undefined ? limits : { ...limits, ipTookMs }) },
  );
  const ipLimit = quietLimit('ip', measured, limits);
  ctx.log.info({ phase: 'ip', measured, quietLimitMs: ipLimit.ms, why: ipLimit.why }, 'waiting for addresses');
  say(`a VM without a sign of life for ${(ipLimit.ms / 1000).toFixed(0)} s counts as dead (${ipLimit.why}); at most ${((b.deadlineAt - performance.now()) / 1000).toFixed(0)} s more in all`);
  let lastLine = performance.now();
  const ticker = setInterval(() => {
    watch.poll();
    if (performance.now() - lastLine < PROGRESS_EVERY_MS - 500) return;
    lastLine = performance.now();
    for (const vm of watch.waiting()) {
      const line = watch.line(vm.mac);
      say(line);
      ctx.log.info({ phase: 'wait', vm: vm.name, node: vm.node }, line);
    }
  }, 1000);
  const left = (): number => Math.max(1, b.deadlineAt - performance.now());
  const names = new Map(plan.vms.map((v) => [v.mac, v.name]));
  const fallback = c.VM_NETWORK !== '' ? { fallback: leaseLookup(c.LIBVIRT_URI, c.VM_NETWORK) } : {};
  const signal = input.signal ? { signal: input.signal } : {};
  const find = (macs: readonly string[], extra: { stale: ReadonlySet<string>; notBefore?: ReadonlyMap<string, number> }): Promise<Map<string, string>> =>
    waitForIps(macs, {
      deadlineMs: left(),
      log: ctx.log,
      names,
      since: b.bootSince,
      ...extra,
      dead: (mac) => {
        watch.poll();
        return watch.dead(mac);
      },
      onFound: (mac, ip, source) => watch.found(mac, ip, source === 'lease' ? 'DHCP lease of this boot' : 'ARP'),
      detail: (mac) => watch.line(mac),
      ...signal,
      ...fallback,
    });
  try {
    const ips = await t.phase('ip', () => find([...names.keys()], { stale: b.stale }));
    say(`addresses: ${plan.vms.map((v) => `${v.name}=${ips.get(v.mac)}`).join(', ')}; waiting for SSH`);
    const key = readFileSync(ready.userKeyPath);
    const limit = pLimit(c.PARALLEL ? 8 : 1);
    await t.phase('ssh', () =>
      Promise.all(
        ready.vms.map((vm) =>
          limit(async () => {
            const mac = vm.plan.mac;
            for (;;) {
              const host = ips.get(mac) as string;
              watch.beginSsh(mac);
              try {
                await waitForSsh({
                  host,
                  user: input.job.owner.user,
                  privateKey: key,
                  hostKey: vm.hostKeyPublic,
                  deadlineMs: left(),
                  connectTimeoutMs: c.SSH_TIMEOUT * 1000,
                  log: ctx.log,
                  vm: vm.plan.name,
                  dead: () => {
                    watch.poll();
                    return watch.dead(mac);
                  },
                  onProgress: (stage) => watch.sshProgress(mac, stage),
                  onAttempt: (result) => watch.sshResult(mac, result),
                  onLoggedIn: () => watch.sshLoggedIn(mac),
                  unreachableAfterMs: UNREACHABLE_RESOLVE_MS,
                  // vtorque-seed has done everything before sshd starts: the login is enough.
                  // cloud-init goes on after sshd starts: ready once it is done.
                  readyCommand: vm.fastSeed ? null : CLOUD_INIT_DONE,
                  ...signal,
                });
                watch.ready(mac);
                return;
              } catch (err) {
                if (!(err instanceof HostUnreachableError)) throw err;
                // Nothing answers there (a lease of another boot, a guest that moved): find its
                // address again; the same one counts only when learned after this moment.
                const at = Date.now();
                ctx.log.warn({ phase: 'ssh', vm: vm.plan.name, ip: host, err: err.message }, 'address unreachable; resolving it again');
                say(`${err.message}; finding its address again`);
                watch.lost(mac, `${host} unreachable`);
                const pair = `${mac} ${host}`;
                const again = await find([mac], { stale: new Set([...b.stale, pair]), notBefore: new Map([[pair, at]]) });
                ips.set(mac, again.get(mac) as string);
                say(`${vm.plan.name}: address ${again.get(mac)}; waiting for SSH`);
              }
            }
          }),
        ),
      ),
    );
    const times = plan.vms.map((v) => watch.times(v.mac));
    if (times.every((x) => x !== null)) {
      const sample = { ipMs: Math.max(...times.map((x) => x.ipMs)), sshMs: Math.max(...times.map((x) => x.sshMs)), atMs: Date.now() };
      try {
        recordBootTimes(c.SPOOL_DIR, timesKey, sample);
      } catch (err) {
        ctx.log.warn({ err: (err as Error).message }, 'could not record the boot times');
      }
      ctx.log.info({ phase: 'ssh', key: timesKey, ...sample }, 'boot times recorded');
    }
    return ips;
  } finally {
    clearInterval(ticker);
  }
}

export interface StopResult {
  readonly domains: readonly string[];
  readonly files: readonly string[];
  readonly arp: readonly string[];
}

/**
 * Tear down every VM of the job on this node and remove its files. Idempotent and safe after a
 * partial start: it works from what libvirt and the spool hold, not from a plan.
 */
export async function stopJobVms(jobId: string, ctx: EngineContext, opts: { keepLogs: boolean; ramdisk?: string | undefined }): Promise<StopResult> {
  const c = ctx.config;
  const records = readVmRecords(c, jobId);
  const graceful = new Set(records.filter((r) => r.persistentDisk).map((r) => r.name));
  const torn = await teardownJob(ctx.libvirt, jobId, { graceful, shutdownTimeoutMs: c.TIMEOUT * 1000, parallel: c.PARALLEL ? 8 : 1, log: ctx.log });
  // Addresses from the records, and from the neighbour table by MAC: a start that failed after
  // its VMs got addresses (SSH never up) wrote no records, but its ARP entries must go too.
  const ips = new Set(records.flatMap((r) => (r.ip ? [r.ip] : [])));
  if (ctx.domainType !== 'test') for (const ip of await ipsOfMacs([...torn.macs, ...records.map((r) => r.mac)]).catch(() => [])) ips.add(ip);
  const arp = ctx.domainType === 'test' ? [] : await forgetArp([...ips], { log: ctx.log });
  const files = await removeJobFiles(c, jobId, { keepLogs: opts.keepLogs, ...(opts.ramdisk ? { ramdisk: opts.ramdisk } : {}) });
  return { domains: torn.removed, files, arp };
}

/** The job's VM records, or none (a start that failed before boot, or already cleaned). */
export function readVmRecords(config: SiteConfig, jobId: string): VmRecord[] {
  try {
    const parsed = JSON.parse(readFileNoFollow(join(jobDirPath(config, jobId), VMS_FILE), 16 << 20)) as unknown;
    return Array.isArray(parsed) ? (parsed as VmRecord[]) : [];
  } catch {
    return [];
  }
}
