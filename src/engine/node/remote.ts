import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import * as v from 'valibot';
import { VtorqueError } from '../../core/errors.js';
import type { Candidate } from '../discover/index.js';
import type { EngineLog } from '../libvirt/index.js';
import type { NodeAccess, NodeBooted, NodePrepared, NodeReservation, NodeStopResult, RevivedVm } from './access.js';
import { fromWire, KeyWireSchema, MAX_LINE_BYTES, NODE_OPS_VERSION, nodeStateFromWire, NodeStateWireSchema, ResponseSchema, type NodeOp } from './wire.js';

/** A node reached through its agent; `close` ends the session (the agent releases what it holds). */
export interface RemoteNode extends NodeAccess {
  close(): Promise<void>;
}

export interface AgentCommand {
  /** The node's name as the scheduler gave it. */
  readonly name: string;
  /** argv that starts `vtorque node-agent` on the node (e.g. ssh root@<node> <prefix>/bin/vtorque node-agent). */
  readonly argv: readonly string[];
  /** Longest wait for one answer that has no bound of its own (hello, records, stop). */
  readonly callTimeoutMs: number;
  readonly log: EngineLog;
}

// `ops`: what the agent serves (absent: an agent from before reviveVms, which ends the session on an op it does not know;
// one from before cpuTimes does not list it).
const HelloSchema = v.object({ version: v.literal(NODE_OPS_VERSION), name: v.string(), domainType: v.picklist(['kvm', 'qemu', 'test']), leases: v.boolean(), ops: v.optional(v.pipe(v.array(v.string()), v.maxLength(256))) });
const ReserveSchema = v.object({ state: NodeStateWireSchema, waitedMs: v.number() });
const PreparedSchema = v.object({
  vms: v.array(v.object({ name: v.string(), hostKeyPublic: v.pipe(v.string(), v.maxLength(16384)), fastSeed: v.boolean(), persistentDisk: v.boolean() })),
  userKey: KeyWireSchema,
  qemu: v.nullable(v.object({ uid: v.number(), gid: v.number() })),
});
const BootedSchema = v.object({ bootSince: v.number(), stale: v.array(v.string()) });
const StopSchema = v.object({ domains: v.array(v.string()), files: v.array(v.string()), arp: v.array(v.string()) });
const CandidatesSchema = v.object({ candidates: v.array(v.object({ ip: v.string(), learnedMs: v.nullable(v.number()) })) });
const SizesSchema = v.object({ sizes: v.array(v.nullable(v.number())) });
const CpuSchema = v.object({ cpuMs: v.array(v.nullable(v.pipe(v.number(), v.finite(), v.minValue(0)))) });
const RevivedSchema = v.object({
  revived: v.array(
    v.object({
      vm: v.pipe(v.string(), v.maxLength(255)),
      state: v.picklist(['shutoff', 'missing']),
      action: v.picklist(['started-again', 'given-up']),
      qemuLog: v.nullable(v.pipe(v.string(), v.maxLength(4096))),
      error: v.optional(v.pipe(v.string(), v.maxLength(4096))),
    }),
  ),
});
const TextSchema = v.object({ text: v.pipe(v.string(), v.maxLength(16 << 20)) });
/** Console sizes are asked for at most this often (the boot watch reads them every second). */
const CONSOLE_REFRESH_MS = 900;

/**
 * Start the node's agent and talk node-ops v1 to it: the NodeAccess a head uses for a node that is
 * not this host. An agent that cannot be started, does not answer, or answers out of contract is
 * the node's fault and names it.
 */
export async function connectNode(cmd: AgentCommand): Promise<RemoteNode> {
  const [file, ...args] = cmd.argv;
  if (file === undefined) throw new VtorqueError('CONFIG_INVALID', `node ${cmd.name}: no command to start its node agent`, { fault: 'node' });
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const fail = (why: string, cause?: unknown): VtorqueError => new VtorqueError('COMMAND_FAILED', `node ${cmd.name}: ${why}`, { fault: 'node', ...(cause === undefined ? {} : { cause }) });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let gone: Error | null = null;
  const goneWith = (err: Error): void => {
    gone ??= err;
    for (const p of pending.values()) p.reject(gone);
    pending.clear();
  };
  child.once('error', (err) => goneWith(fail(`cannot start its node agent (${cmd.argv.join(' ')}): ${err.message}`, err)));
  child.once('close', (code, signal) => goneWith(fail(`its node agent ended (${signal ?? `exit ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : ''}`)));
  child.stdin.on('error', () => undefined);
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    let msg;
    try {
      if (Buffer.byteLength(line) > MAX_LINE_BYTES) throw new Error('an answer too long');
      msg = v.parse(ResponseSchema, JSON.parse(line) as unknown);
    } catch (err) {
      goneWith(fail(`its node agent answered out of contract: ${String(err).slice(0, 200)}`));
      child.kill('SIGKILL');
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if ('error' in msg) p.reject(new VtorqueError(msg.error.code, msg.error.message, { fault: msg.error.fault, exitCode: msg.error.exitCode }));
    else p.resolve(msg.ok);
  });
  let next = 0;
  const call = (op: NodeOp, args: Record<string, unknown>, timeoutMs: number): Promise<unknown> => {
    if (gone) return Promise.reject(gone);
    const id = ++next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new VtorqueError('TIMEOUT', `node ${cmd.name}: no answer to ${op} within ${Math.round(timeoutMs / 1000)} s`, { fault: 'node' }));
      }, timeoutMs);
      pending.set(id, {
        resolve: (x) => (clearTimeout(timer), resolve(x)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      child.stdin.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  };
  const t = cmd.callTimeoutMs;
  let hello;
  try {
    hello = fromWire(HelloSchema, await call('hello', {}, t), cmd.name, 'its hello');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (hello.name !== cmd.name) cmd.log.warn({ node: cmd.name, agentName: hello.name }, 'the node agent calls its node by another name');

  // The boot watch reads console sizes synchronously every second: answer from the last refresh
  // and refresh in the background, every VM asked about so far at once.
  const sizes = new Map<string, number | null>();
  let refreshedAt = 0;
  let refreshing = false;
  const refresh = (): void => {
    if (refreshing || performance.now() - refreshedAt < CONSOLE_REFRESH_MS || gone) return;
    refreshing = true;
    const vms = [...sizes.keys()];
    void call('consoleSizes', { vms }, t)
      .then((ok) => fromWire(SizesSchema, ok, cmd.name, 'console sizes').sizes.forEach((n, i) => sizes.set(vms[i] as string, n)))
      .catch((err: unknown) => cmd.log.warn({ node: cmd.name, err: String(err) }, 'console sizes not read'))
      .finally(() => {
        refreshing = false;
        refreshedAt = performance.now();
      });
  };

  const node: RemoteNode = {
    name: cmd.name,
    domainType: hello.domainType,
    async reserve({ timeoutMs, onWait }) {
      // The lock wait is the node's; say so if it is not quick, as a local node does.
      const hint = onWait ? setTimeout(onWait, 200) : undefined;
      let r;
      try {
        r = fromWire(ReserveSchema, await call('reserve', { timeoutMs }, timeoutMs + t), cmd.name, 'its reservation');
      } finally {
        clearTimeout(hint);
      }
      const state = nodeStateFromWire(r.state);
      const reservation: NodeReservation = {
        state,
        waitedMs: r.waitedMs,
        async prepare(plan, input): Promise<NodePrepared> {
          const p = fromWire(PreparedSchema, await call('prepare', { plan, guestEnv: input.guestEnv, boot: input.boot, ...(input.jobKey ? { jobKey: input.jobKey.toString('base64') } : {}) }, t), cmd.name, 'what it prepared');
          for (const vm of p.vms) sizes.set(vm.name, null);
          return { vms: p.vms, userKey: Buffer.from(p.userKey, 'base64'), qemu: p.qemu };
        },
        async boot({ timeoutMs: bootMs }): Promise<NodeBooted> {
          const b = fromWire(BootedSchema, await call('boot', { timeoutMs: bootMs }, bootMs + t), cmd.name, 'its boot');
          return { bootSince: b.bootSince, stale: new Set(b.stale) };
        },
        async release() {
          if (gone) return; // the agent is gone: so is its lock
          await call('release', {}, t);
        },
      };
      return reservation;
    },
    async readNeighbours() {
      return fromWire(TextSchema, await call('readNeighbours', {}, t), cmd.name, 'its neighbour table').text;
    },
    leases: hello.leases ? async (mac: string): Promise<readonly Candidate[]> => fromWire(CandidatesSchema, await call('leases', { mac }, t), cmd.name, 'its leases').candidates : null,
    consoleSize(vm) {
      if (!sizes.has(vm)) sizes.set(vm, null);
      refresh();
      return sizes.get(vm) ?? null;
    },
    async cpuTimes(vms): Promise<readonly (number | null)[]> {
      if (!hello.ops?.includes('cpuTimes')) return vms.map(() => null); // an older agent: console output and addresses only
      const { cpuMs } = fromWire(CpuSchema, await call('cpuTimes', { vms }, t), cmd.name, 'its CPU times');
      if (cpuMs.length !== vms.length) throw new VtorqueError('INTERNAL', `node ${cmd.name}: its CPU times are not node-ops v${NODE_OPS_VERSION} (${cpuMs.length} for ${vms.length} VM(s))`, { fault: 'node' });
      return cpuMs;
    },
    async reviveVms(vms): Promise<readonly RevivedVm[]> {
      if (!hello.ops?.includes('reviveVms')) return []; // an older agent: its VMs are left to the quiet limits
      const asked = new Set(vms);
      // Only VMs asked about count: an agent that names others is not believed about them.
      return fromWire(RevivedSchema, await call('reviveVms', { vms }, t), cmd.name, 'its VMs not running').revived.filter((r) => asked.has(r.vm));
    },
    async writeVmRecords(jobId, vms) {
      await call('writeVmRecords', { jobId, vms }, t);
    },
    async stopVms(jobId, o): Promise<NodeStopResult> {
      return fromWire(StopSchema, await call('stopVms', { jobId, keepLogs: o.keepLogs, ...(o.ramdisk ? { ramdisk: o.ramdisk } : {}) }, t), cmd.name, 'its teardown');
    },
    async close() {
      child.stdin.end();
      if (child.exitCode !== null || child.signalCode !== null) return;
      // The agent ends when its input does (releasing what it held); one that does not is killed.
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), t);
        child.once('close', () => (clearTimeout(kill), resolve()));
      });
    },
  };
  return node;
}
