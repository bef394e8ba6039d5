import pLimit from 'p-limit';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SiteConfig } from '../core/config/schema.js';
import type { VmRecord } from '../core/contract/job-state.v1.js';
import { readFileNoFollow, writeFileExclusive } from '../core/fs/index.js';
import { buildDomainXml } from '../core/libvirt/index.js';
import type { Renderer } from '../core/render/render.js';
import type { VmRequest } from '../core/request/types.js';
import { NODE_FILE_DIR, type UserDataBase } from '../guest/index.js';
import { bootVms } from './boot/index.js';
import { forgetArp, ipsOfMacs, leaseLookup, waitForIps, waitForSsh } from './discover/index.js';
import { toDomainSpec, type EngineLog, type LibvirtNode } from './libvirt/index.js';
import { customMacs } from './custom-mac.js';
import { vmNodeFile, writeGuestFile } from './guest-files.js';
import { jobDirName } from './naming.js';
import { planJob } from './plan.js';
import { jobDirPath, prepareJob, removeJobFiles, virtiofsShares, type PreparedJob } from './prepare/index.js';
import { ensureRootDir } from './prepare/spool.js';
import { withNodeLock } from '../core/node/lock.js';
import { kvmGroupGid } from '../core/node/ids.js';
import { teardownJob } from './teardown/index.js';
import { Timeline, type PhaseMark } from './timeline.js';
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
  /** Direct kernel boot files of the image, when the pool has them beside it. */
  readonly boot: { readonly kernel: string; readonly initrd: string; readonly cmdline: string } | null;
  readonly guestEnv: Readonly<Record<string, string>>;
  readonly uuid: () => string;
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

export const VMS_FILE = 'vms.json';
/** In SPOOL_DIR: held while a job observes the node and defines its domains. */
export const NODE_LOCK_FILE = 'node.lock';

/**
 * plan → prepare → boot → ready for one job, under one overall deadline (PROLOGUE_TIMEOUT) with a
 * per-step limit (TIMEOUT). Any failure tears down whatever was made before the error propagates.
 */
export async function startJobVms(input: StartInput, ctx: EngineContext): Promise<StartedJob> {
  const c = ctx.config;
  const t = new Timeline();
  const deadline = c.PROLOGUE_TIMEOUT * 1000;
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
    const { plan, prepared: ready, domains } = await withNodeLock(
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
          }),
        );
        const shares = virtiofsShares(c).map((s) => ({ dir: s.dir, tag: s.tag }));
        say('disks and seeds ready; starting VMs');
        if (prepared.qemu) ctx.log.info({ uid: prepared.qemu.uid, gid: prepared.qemu.gid, mode: c.QEMU_USER }, 'qemu identity');
        // qemu runs under the very identity prepare gave the overlay and the seed to.
        const domains = prepared.vms.map((vm) => ({
          name: vm.plan.name,
          xml: buildDomainXml(
            toDomainSpec(vm.plan, plan, { type: ctx.domainType, config: c, disk: vm.disk, backing: { file: prepared.backing, format: prepared.baseFormat }, seedIso: vm.plan.seedIso, boot: input.boot, persistentDisk: vm.persistentDisk, virtiofs: shares, qemu: prepared.qemu }),
            ctx.renderTemplatesVm,
          ),
        }));
        await t.phase('boot', () => bootVms(ctx.libvirt, domains, { parallel: c.PARALLEL ? 8 : 1, deadlineMs: left(), log: ctx.log }));
        return { plan, prepared, domains };
      },
    );
    say(`${domains.length} VM(s) running; waiting for their addresses`);

    let ips = new Map<string, string>();
    if (ctx.domainType !== 'test') {
      const names = new Map(plan.vms.map((v) => [v.mac, v.name]));
      ips = await t.phase('ip', () =>
        waitForIps([...names.keys()], {
          deadlineMs: left(),
          log: ctx.log,
          names,
          ...(input.signal ? { signal: input.signal } : {}),
          ...(c.VM_NETWORK !== '' ? { fallback: leaseLookup(c.LIBVIRT_URI, c.VM_NETWORK) } : {}),
        }),
      );
      say(`addresses: ${plan.vms.map((v) => `${v.name}=${ips.get(v.mac)}`).join(', ')}; waiting for SSH`);
      const key = readFileSync(ready.userKeyPath);
      const limit = pLimit(c.PARALLEL ? 8 : 1);
      await t.phase('ssh', () =>
        Promise.all(
          ready.vms.map((vm) =>
            limit(() =>
              waitForSsh({
                host: ips.get(vm.plan.mac) as string,
                user: input.job.owner.user,
                privateKey: key,
                hostKey: vm.hostKeyPublic,
                deadlineMs: left(),
                connectTimeoutMs: c.SSH_TIMEOUT * 1000,
                log: ctx.log,
                vm: vm.plan.name,
                ...(input.signal ? { signal: input.signal } : {}),
              }),
            ),
          ),
        ),
      );
      say('all VMs accept SSH');
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
