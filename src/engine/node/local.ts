import { join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import { writeFileExclusive } from '../../core/fs/index.js';
import { buildDomainXml } from '../../core/libvirt/index.js';
import { kvmGroupGid } from '../../core/node/ids.js';
import { hostCapacity } from '../../core/node/capacity.js';
import { acquireNodeLock } from '../../core/node/lock.js';
import { bootVms } from '../boot/index.js';
import { NODE_LOCK_FILE, type EngineContext } from '../context.js';
import { forgetNeighboursOf, leaseLookup, lstatSize, readProcNetArp } from '../discover/index.js';
import { qemuLogPath, toDomainSpec, withDeadline } from '../libvirt/index.js';
import { observeNode } from '../observe.js';
import { ensureRootDir, jobDirPath, prepareJob, virtiofsShares, type PreparedJob } from '../prepare/index.js';
import { placeOnNode } from '../plan.js';
import type { JobPlan, NodeState } from '../types.js';
import type { NodeAccess, NodeBooted, NodePrepared, NodePrepareInput, NodeReservation, RevivedVm } from './access.js';
import { stopJobVms, VMS_FILE } from './stop-vms.js';

export interface LocalNodeOptions {
  /** The node's name as the scheduler gave it (the plan's VM names and hostnames carry it). */
  readonly name: string;
  /** How the node is observed under its lock (default: libvirt's domains and this host's capacity). */
  readonly observe?: () => Promise<NodeState>;
  /** Called with what prepare made, for callers that look at the node's files (tests, the engine driver). */
  readonly onPrepared?: (prepared: PreparedJob) => void;
}

/** Bound on one libvirt call of reviveVms: the head asks again a few seconds later. */
const REVIVE_CALL_MS = 20_000;
/** Bound on one libvirt CPU time read: the head asks again a couple of seconds later. */
const CPU_CALL_MS = 10_000;

/** This host as a node of a job: every node operation done here, in this process. */
export function localNode(ctx: EngineContext, opts: LocalNodeOptions): NodeAccess {
  const c = ctx.config;
  const observe = opts.observe ?? (() => observeNode(opts.name, hostCapacity(), ctx.libvirt));
  // VM name → its console log here, from what this node prepared.
  const consoles = new Map<string, string>();
  // VMs started again after their qemu stopped, in the start that prepared them: once only.
  const restarted = new Set<string>();
  const prepared = (p: PreparedJob): void => {
    for (const vm of p.vms) {
      consoles.set(vm.plan.name, vm.plan.consoleLog);
      restarted.delete(vm.plan.name); // prepared anew: a new start
    }
    opts.onPrepared?.(p);
  };
  const revive = async (vm: string): Promise<RevivedVm | null> => {
    const state = await withDeadline(ctx.libvirt.state(vm), REVIVE_CALL_MS, `node ${opts.name}: libvirt state of ${vm}`);
    // Paused or being shut down is not what a start mends: the boot watch's quiet limit covers it.
    if (state === 'running' || state === 'other') return null;
    const qemuLog = qemuLogPath(ctx.libvirt.uri, vm);
    if (state === 'missing' || restarted.has(vm)) return { vm, state, action: 'given-up', qemuLog };
    restarted.add(vm);
    try {
      await withDeadline(ctx.libvirt.start(vm), REVIVE_CALL_MS, `node ${opts.name}: libvirt start of ${vm}`);
    } catch (err) {
      return { vm, state, action: 'given-up', qemuLog, error: (err instanceof Error ? err.message : String(err)).split('\n')[0] as string };
    }
    ctx.log.warn({ phase: 'boot', node: opts.name, vm, qemuLog }, "a VM's qemu stopped during the boot; started it again (once)");
    return { vm, state, action: 'started-again', qemuLog };
  };
  return {
    name: opts.name,
    domainType: ctx.domainType,
    async reserve({ timeoutMs, onWait }) {
      ensureRootDir(c.SPOOL_DIR, 'SPOOL_DIR');
      const held = await acquireNodeLock(join(c.SPOOL_DIR, NODE_LOCK_FILE), { timeoutMs, ...(onWait ? { onWait: () => onWait() } : {}) });
      try {
        const state = await observe();
        if (held.waitedMs >= 200) ctx.log.info({ phase: 'lock', node: opts.name, elapsedMs: held.waitedMs }, 'node lock taken');
        return new LocalReservation(ctx, opts.name, prepared, state, held.waitedMs, () => held.release());
      } catch (err) {
        await held.release();
        throw err;
      }
    },
    readNeighbours: readProcNetArp,
    leases: c.VM_NETWORK !== '' ? leaseLookup(c.LIBVIRT_URI, c.VM_NETWORK) : null,
    consoleSize: (vm) => {
      const path = consoles.get(vm);
      return path === undefined ? null : lstatSize(path);
    },
    async cpuTimes(vms) {
      // Only domains this node prepared are looked at, as in reviveVms.
      return Promise.all(vms.map((vm) => (consoles.has(vm) ? withDeadline(ctx.libvirt.cpuTimeMs(vm), CPU_CALL_MS, `node ${opts.name}: libvirt CPU time of ${vm}`) : null)));
    },
    async reviveVms(vms) {
      // Only domains this node prepared: a name it did not is never looked at, let alone started.
      const mine = [...new Set(vms)].filter((vm) => consoles.has(vm));
      return (await Promise.all(mine.map(revive))).filter((r): r is RevivedVm => r !== null);
    },
    async writeVmRecords(jobId, vms) {
      writeFileExclusive(join(jobDirPath(c, jobId), VMS_FILE), `${JSON.stringify(vms, null, 2)}\n`, 0o644);
    },
    stopVms: (jobId, o) => stopJobVms(jobId, ctx, o),
  };
}

class LocalReservation implements NodeReservation {
  private prepared: PreparedJob | null = null;
  private bootFiles: NodePrepareInput['boot'] = null;
  private released = false;

  constructor(
    private readonly ctx: EngineContext,
    private readonly name: string,
    private readonly onPrepared: (prepared: PreparedJob) => void,
    readonly state: NodeState,
    readonly waitedMs: number,
    private readonly unlock: () => Promise<void>,
  ) {}

  async prepare(plan: JobPlan, input: NodePrepareInput): Promise<NodePrepared> {
    const c = this.ctx.config;
    const here = placeOnNode(plan, this.name, c);
    const kvmGid = c.QEMU_USER !== 'job-uid' ? null : this.ctx.kvmGid !== undefined ? this.ctx.kvmGid : await kvmGroupGid();
    const prepared = await prepareJob(here, {
      config: c,
      userDataBase: this.ctx.userDataBase,
      guestEnv: input.guestEnv,
      renderTemplates: this.ctx.renderTemplates,
      log: (msg, fields) => this.ctx.log.info(fields ?? {}, msg),
      kvmGid,
      boot: input.boot && { cmdline: input.boot.cmdline },
      ...(input.jobKey ? { userKey: input.jobKey } : {}),
    });
    this.prepared = prepared;
    this.bootFiles = input.boot;
    this.onPrepared(prepared);
    if (prepared.qemu) this.ctx.log.info({ node: this.name, uid: prepared.qemu.uid, gid: prepared.qemu.gid, mode: c.QEMU_USER }, 'qemu identity');
    return {
      vms: prepared.vms.map((vm) => ({ name: vm.plan.name, hostKeyPublic: vm.hostKeyPublic, fastSeed: vm.fastSeed, persistentDisk: vm.persistentDisk !== null })),
      userKey: prepared.userKey,
      qemu: prepared.qemu && { uid: prepared.qemu.uid, gid: prepared.qemu.gid },
    };
  }

  async boot({ timeoutMs }: { readonly timeoutMs: number }): Promise<NodeBooted> {
    const { ctx } = this;
    const c = ctx.config;
    const prepared = this.prepared;
    if (prepared === null) throw new VtorqueError('INTERNAL', `node ${this.name}: its VMs were asked to boot before they were prepared`, { fault: 'node' });
    const boot = this.bootFiles;
    const shares = virtiofsShares(c).map((s) => ({ dir: s.dir, tag: s.tag }));
    // qemu runs under the very identity prepare gave the overlay and the seed to.
    const domains = prepared.vms.map((vm) => ({
      name: vm.plan.name,
      xml: buildDomainXml(
        toDomainSpec(vm.plan, prepared.plan, {
          type: ctx.domainType,
          config: c,
          disk: vm.disk,
          backing: { file: prepared.backing, format: prepared.baseFormat },
          seedIso: vm.plan.seedIso,
          boot: boot && { ...boot, cmdline: vm.cmdline ?? boot.cmdline },
          persistentDisk: vm.persistentDisk,
          virtiofs: shares,
          qemu: prepared.qemu,
        }),
        ctx.renderTemplatesVm,
      ),
    }));
    // Addresses of this boot only: the MACs' neighbour entries go before the start (a repeated
    // or requeued start has the same MACs), and nothing learned before `bootSince` counts.
    const forgotten = ctx.domainType === 'test' ? { removed: [], stale: new Set<string>() } : await forgetNeighboursOf(prepared.vms.map((v) => v.plan.mac), { log: ctx.log });
    if (forgotten.removed.length > 0) ctx.log.info({ phase: 'ip', node: this.name, removed: forgotten.removed }, "removed the VMs' MACs' neighbour entries from before the start");
    if (forgotten.stale.size > 0) ctx.log.warn({ phase: 'ip', node: this.name, stale: [...forgotten.stale] }, 'neighbour entries from before the start could not be removed; they are ignored');
    const bootSince = Date.now();
    await bootVms(ctx.libvirt, domains, { parallel: c.PARALLEL ? 8 : 1, deadlineMs: timeoutMs, log: ctx.log });
    return { bootSince, stale: forgotten.stale };
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.unlock();
  }
}
