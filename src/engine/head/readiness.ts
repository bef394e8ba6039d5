import pLimit from 'p-limit';
import { VtorqueError } from '../../core/errors.js';
import { BootWatch, CLOUD_INIT_DONE, type CpuSample, HostUnreachableError, waitForIps, waitForSsh } from '../discover/index.js';
import type { NodeAccess, NodeBooted, PreparedVmFacts } from '../node/index.js';
import { bootTimesKey, measuredPhases, quietLimit, readBootTimes, recordBootTimes, type Timeline } from '../timeline.js';
import type { JobPlan } from '../types.js';
import type { HeadContext, StartInput } from './types.js';

/** A progress line per waiting VM at least this often while the start waits for addresses and SSH. */
export const PROGRESS_EVERY_MS = 10_000;
/** SSH answered only "host unreachable" for this long (and 3 attempts): the address is resolved again. */
export const UNREACHABLE_RESOLVE_MS = 8000;
/** The nodes are asked this often whether their waiting VMs' domains still run (a qemu that stopped early in the boot). */
export const REVIVE_EVERY_MS = 5000;
/** The nodes are asked this often how much CPU their waiting VMs' qemus have used (a sign of life). */
export const CPU_EVERY_MS = 2000;

export interface Booted {
  readonly plan: JobPlan;
  /** The job's nodes in rank order. */
  readonly nodes: readonly NodeAccess[];
  /** What a VM's node prepared for it, and the key to log in with. */
  readonly vm: (name: string) => PreparedVmFacts & { readonly node: NodeAccess; readonly key: Buffer };
  /** Per node name: when its domains were started, and its neighbour entries from before. */
  readonly booted: ReadonlyMap<string, NodeBooted>;
  /** performance.now() once every domain was running. */
  readonly startedAt: number;
  /** performance.now() of the overall deadline. */
  readonly deadlineAt: number;
  readonly t: Timeline;
  readonly say: (line: string) => void;
  /** How often the nodes are asked about VMs not running (default REVIVE_EVERY_MS; tests make it short). */
  readonly reviveEveryMs?: number;
  /** How often the nodes are asked for CPU times (default CPU_EVERY_MS; the CPU window is 2.5 of these). */
  readonly cpuEveryMs?: number;
  /** The guests' SSH port (default 22; tests point it at a server of their own). */
  readonly sshPort?: number;
}

/** Run `work` every `everyMs`, never two at once (a slow node delays the next round, never doubles it); returns the stop. */
function everyNoOverlap(everyMs: number, work: () => Promise<unknown>): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void work().finally(() => {
      running = false;
    });
  }, everyMs);
  return () => clearInterval(timer);
}

/**
 * The addresses of this boot, then SSH, for every VM of every node. Addresses are looked up on the
 * VM's own node (its neighbour table, its DHCP leases), every node at once; SSH goes from here. A
 * VM is given up when it shows no sign of life (console output, its qemu busy computing, an
 * address, SSH getting further)
 * for its phase's quiet limit, measured phase times with headroom (quietLimit), never past the
 * overall deadline; a progress line per waiting VM every PROGRESS_EVERY_MS. An address that
 * answers only "host unreachable" is resolved again (never the same one unless learned anew).
 * Every REVIVE_EVERY_MS the nodes are asked which waiting VMs that the CPU poll did not see running are not running: a domain whose
 * qemu stopped is started again once by its node; one that stops again counts as dead at once.
 * Records the phase times when done (not for a boot with a VM started again).
 */
export async function waitUntilReachable(input: StartInput, head: HeadContext, b: Booted): Promise<Map<string, string>> {
  const c = head.config;
  const { plan, t, say } = b;
  const log = head.log;
  const domainType = b.nodes[0]?.domainType ?? 'qemu';
  const timesKey = bootTimesKey(input.baseImage, domainType, plan.vms.every((v) => b.vm(v.name).fastSeed) ? 'fast' : 'cloud-init');
  const measured = measuredPhases(readBootTimes(c.SPOOL_DIR, timesKey));
  const limits = { headroom: c.BOOT_HEADROOM, minMs: c.BOOT_MIN_WAIT * 1000, unmeasuredMs: c.TIMEOUT * 1000 };
  // The watch asks by console path (the plan's); the VM's node answers by VM name.
  const vmOfConsole = new Map(plan.vms.map((v) => [v.consoleLog, v.name]));
  // VM name → its qemu's last CPU reading, refreshed in the background (the watch is synchronous).
  const cpu = new Map<string, CpuSample>();
  /** Nodes whose last CPU read failed (logged once until they answer again). */
  const cpuFailing = new Set<string>();
  const cpuEvery = b.cpuEveryMs ?? CPU_EVERY_MS;
  const watch = new BootWatch(
    plan.vms.map((v) => ({ name: v.name, node: v.node, mac: v.mac, consoleLog: v.consoleLog })),
    {
      startedMs: b.startedAt,
      limit: (phase, ipTookMs) => quietLimit(phase, measured, ipTookMs === undefined ? limits : { ...limits, ipTookMs }),
      consoleSize: (path) => {
        const name = vmOfConsole.get(path);
        return name === undefined ? null : b.vm(name).node.consoleSize(name);
      },
      cpuTime: (name) => cpu.get(name) ?? null,
      cpuWindowMs: 2.5 * cpuEvery,
    },
  );
  const ipLimit = quietLimit('ip', measured, limits);
  log.info({ phase: 'ip', measured, quietLimitMs: ipLimit.ms, why: ipLimit.why }, 'waiting for addresses');
  say(`a VM without a sign of life for ${(ipLimit.ms / 1000).toFixed(0)} s counts as dead (${ipLimit.why}); at most ${((b.deadlineAt - performance.now()) / 1000).toFixed(0)} s more in all`);
  let lastLine = performance.now();
  const ticker = setInterval(() => {
    watch.poll();
    if (performance.now() - lastLine < PROGRESS_EVERY_MS - 500) return;
    lastLine = performance.now();
    for (const vm of watch.waiting()) {
      const line = watch.line(vm.mac);
      say(line);
      log.info({ phase: 'wait', vm: vm.name, node: vm.node }, line);
    }
  }, 1000);
  // A qemu that stops early in the boot (seen under TCG: "shutting down, reason=crashed" ~2.5 s
  // after the start) boots fine when started again; unnoticed, its VM was waited for until its
  // quiet limit (minutes) and the whole start was lost.
  const planned = new Map(plan.vms.map((v) => [v.name, v]));
  /** mac → why its node gave it up (the watch's reason for its death) and the start's error then. */
  const gaveUp = new Map<string, { reason: string; message: string }>();
  let restarts = 0;
  let over = false;
  const revive = async (n: NodeAccess): Promise<void> => {
    // Only VMs the CPU poll did not see running (no reading: not running, not read yet, or the
    // node's CPU times fail): a running qemu needs no second libvirt question.
    const unseen = (name: string): boolean => cpuFailing.has(n.name) || !cpu.has(name);
    const vms = watch.waiting().filter((w) => w.node === n.name && watch.dead(w.mac) === null && unseen(w.name)).map((w) => w.name);
    if (vms.length === 0) return;
    let revived;
    try {
      revived = await n.reviveVms(vms);
    } catch (err) {
      if (!over) log.warn({ phase: 'wait', node: n.name, err: err instanceof Error ? err.message : String(err) }, 'could not ask the node which of its VMs are not running');
      return;
    }
    if (over) return;
    for (const r of revived) {
      const v = planned.get(r.vm);
      if (v === undefined || v.node !== n.name) continue;
      const fields = { phase: 'wait', vm: r.vm, node: n.name, state: r.state, qemuLog: r.qemuLog };
      if (r.action === 'started-again') {
        restarts++;
        watch.restarted(v.mac, 'started again after its qemu stopped');
        const line = `${n.name} ${r.vm}: its qemu stopped during the boot (shut off); started it again (once)`;
        say(line);
        log.warn(fields, line);
        continue;
      }
      const why = r.state === 'missing' ? 'its domain is gone' : r.error !== undefined ? `its qemu stopped during the boot and starting it again failed (${r.error})` : 'its qemu stopped during the boot twice';
      const reason = `${why}; see the domain's qemu log${r.qemuLog === null ? '' : ` ${r.qemuLog}`}`;
      if (!gaveUp.has(v.mac)) log.warn(fields, `${n.name} ${r.vm}: ${reason}`);
      gaveUp.set(v.mac, { reason, message: `VM ${r.vm} on node ${n.name}: ${reason}` });
      watch.kill(v.mac, reason);
    }
  };
  const stopReviver = everyNoOverlap(b.reviveEveryMs ?? REVIVE_EVERY_MS, () => Promise.all(b.nodes.map(revive)));
  // Six TCG guests on one 2-core host wrote no console byte for over a minute each, though every
  // qemu was busy booting: a qemu that computes is alive (doc/engine.md, "signs of life").
  const readCpu = async (n: NodeAccess): Promise<void> => {
    const vms = watch.waiting().filter((w) => w.node === n.name).map((w) => w.name);
    if (vms.length === 0) return;
    try {
      const times = await n.cpuTimes(vms);
      const atMs = performance.now();
      vms.forEach((vm, i) => {
        const ms = times[i];
        if (ms === null || ms === undefined) cpu.delete(vm);
        else cpu.set(vm, { ms, atMs });
      });
      cpuFailing.delete(n.name);
    } catch (err) {
      // Logged once until it answers again; the other signs of life still count.
      if (!over && !cpuFailing.has(n.name)) log.warn({ phase: 'wait', node: n.name, err: err instanceof Error ? err.message : String(err) }, "could not read the node's VMs' CPU times");
      cpuFailing.add(n.name);
    }
  };
  const stopCpu = everyNoOverlap(cpuEvery, () => Promise.all(b.nodes.map(readCpu)));
  const left = (): number => Math.max(1, b.deadlineAt - performance.now());
  const names = new Map(plan.vms.map((v) => [v.mac, v.name]));
  const signal = input.signal ? { signal: input.signal } : {};
  /** Addresses of `macs`, all on `node`, from that node's neighbour table and leases. */
  const findOn = (node: NodeAccess, macs: readonly string[], extra: { stale: ReadonlySet<string>; notBefore?: ReadonlyMap<string, number> }): Promise<Map<string, string>> =>
    waitForIps(macs, {
      read: () => node.readNeighbours(),
      deadlineMs: left(),
      log,
      names,
      since: (b.booted.get(node.name) as NodeBooted).bootSince,
      ...extra,
      dead: (mac) => {
        watch.poll();
        return watch.dead(mac);
      },
      onFound: (mac, ip, source) => {
        watch.found(mac, ip, source === 'lease' ? 'DHCP lease of this boot' : 'ARP');
        const r = input.record?.vms.get(names.get(mac) ?? '');
        if (r) r.addressMs = t.elapsedMs();
      },
      detail: (mac) => watch.line(mac),
      ...signal,
      ...(node.leases ? { fallback: node.leases } : {}),
    });
  try {
    const ips = await t.phase('ip', async () => {
      const found = await Promise.all(
        b.nodes.map((n) => {
          const macs = plan.vms.filter((v) => v.node === n.name).map((v) => v.mac);
          return macs.length === 0 ? new Map<string, string>() : findOn(n, macs, { stale: (b.booted.get(n.name) as NodeBooted).stale });
        }),
      );
      return new Map(found.flatMap((m) => [...m]));
    });
    say(`addresses: ${plan.vms.map((v) => `${v.name}=${ips.get(v.mac)}`).join(', ')}; waiting for SSH`);
    const limit = pLimit(c.PARALLEL ? 8 : 1);
    await t.phase('ssh', () =>
      Promise.all(
        plan.vms.map((v) =>
          limit(async () => {
            const mac = v.mac;
            const vm = b.vm(v.name);
            for (;;) {
              const host = ips.get(mac) as string;
              watch.beginSsh(mac);
              try {
                await waitForSsh({
                  host,
                  ...(b.sshPort === undefined ? {} : { port: b.sshPort }),
                  user: input.job.owner.user,
                  privateKey: vm.key,
                  hostKey: vm.hostKeyPublic,
                  deadlineMs: left(),
                  connectTimeoutMs: c.SSH_TIMEOUT * 1000,
                  log,
                  vm: v.name,
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
                const r = input.record?.vms.get(v.name);
                if (r) r.readyMs = t.elapsedMs();
                return;
              } catch (err) {
                if (!(err instanceof HostUnreachableError)) throw err;
                // Nothing answers there (a lease of another boot, a guest that moved): find its
                // address again; the same one counts only when learned after this moment.
                const at = Date.now();
                log.warn({ phase: 'ssh', vm: v.name, ip: host, err: err.message }, 'address unreachable; resolving it again');
                say(`${err.message}; finding its address again`);
                watch.lost(mac, `${host} unreachable`);
                const pair = `${mac} ${host}`;
                const stale = (b.booted.get(vm.node.name) as NodeBooted).stale;
                const again = await findOn(vm.node, [mac], { stale: new Set([...stale, pair]), notBefore: new Map([[pair, at]]) });
                ips.set(mac, again.get(mac) as string);
                say(`${v.name}: address ${again.get(mac)}; waiting for SSH`);
              }
            }
          }),
        ),
      ),
    );
    const times = plan.vms.map((v) => watch.times(v.mac));
    // A boot with a VM started again measures no phase of this node.
    if (restarts === 0 && times.every((x) => x !== null)) {
      const sample = { ipMs: Math.max(...times.map((x) => x.ipMs)), sshMs: Math.max(...times.map((x) => x.sshMs)), atMs: Date.now() };
      try {
        recordBootTimes(c.SPOOL_DIR, timesKey, sample);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not record the boot times');
      }
      log.info({ phase: 'ssh', key: timesKey, ...sample }, 'boot times recorded');
    }
    return ips;
  } catch (err) {
    // The wait failed because a node gave a VM up (its reason is in the wait's message): say that plainly.
    const given = err instanceof Error ? [...gaveUp.values()].find((g) => err.message.includes(g.reason)) : undefined;
    if (given !== undefined) throw new VtorqueError('COMMAND_FAILED', given.message, { fault: 'node', cause: err });
    throw err;
  } finally {
    over = true;
    clearInterval(ticker);
    stopReviver();
    stopCpu();
  }
}
