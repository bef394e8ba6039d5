import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import * as v from 'valibot';
import { VmRecordSchema } from '../../core/contract/job-state.v1.js';
import { VtorqueError } from '../../core/errors.js';
import type { EngineLog } from '../libvirt/index.js';
import type { JobPlan } from '../types.js';
import type { NodeAccess, NodeReservation } from './access.js';
import { errorToWire, KeyWireSchema, MAX_LINE_BYTES, MAX_VMS_PER_REQUEST, NODE_OPS, NODE_OPS_VERSION, nodeStateToWire, RequestSchema, type NodeRequest } from './wire.js';

const ms = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(24 * 3600 * 1000));
const vmNames = v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(255))), v.maxLength(MAX_VMS_PER_REQUEST));
const ArgsSchemas = {
  reserve: v.object({ timeoutMs: ms }),
  prepare: v.object({
    plan: v.looseObject({ job: v.looseObject({ jobId: v.string() }), vms: v.array(v.looseObject({ name: v.string(), node: v.string() })) }),
    guestEnv: v.record(v.string(), v.string()),
    boot: v.nullable(v.object({ kernel: v.string(), initrd: v.string(), cmdline: v.string() })),
    jobKey: v.optional(KeyWireSchema),
  }),
  boot: v.object({ timeoutMs: ms }),
  leases: v.object({ mac: v.pipe(v.string(), v.regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i)) }),
  consoleSizes: v.object({ vms: v.array(v.string()) }),
  cpuTimes: v.object({ vms: vmNames }),
  reviveVms: v.object({ vms: vmNames }),
  writeVmRecords: v.object({ jobId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)), vms: v.array(VmRecordSchema) }),
  stopVms: v.object({ jobId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)), keepLogs: v.boolean(), ramdisk: v.optional(v.string()) }),
} as const;

/**
 * Serve node operations (node-ops v1) for one job's head over a pair of streams, one request per
 * line, on behalf of `node` (this host's localNode). One reservation at a time: the node lock is
 * held from `reserve` until `release`, or until the head goes away (end of input), whichever is
 * first. Requests run one after the other, in order; every answer carries its request's id.
 */
export async function serveNodeOps(node: NodeAccess, input: Readable, output: Writable, log: EngineLog): Promise<void> {
  // The reservation this head holds (set and cleared by the requests below).
  const s: { held: NodeReservation | null } = { held: null };
  const answer = (obj: unknown): void => void output.write(`${JSON.stringify(obj)}\n`);
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      if (line.trim() === '') continue;
      let req: NodeRequest;
      try {
        if (Buffer.byteLength(line) > MAX_LINE_BYTES) throw new Error(`a request of more than ${MAX_LINE_BYTES} bytes`);
        req = v.parse(RequestSchema, JSON.parse(line) as unknown);
      } catch (err) {
        // Nothing to answer to: the stream is not node-ops; end it.
        log.warn({ err: String(err) }, 'node agent: a line that is not a node-ops request; closing');
        break;
      }
      try {
        answer({ id: req.id, ok: await run(req) });
      } catch (err) {
        answer({ id: req.id, error: errorToWire(err) });
      }
    }
  } finally {
    await s.held?.release().catch(() => undefined);
  }

  async function run(req: NodeRequest): Promise<unknown> {
    const args = <K extends keyof typeof ArgsSchemas>(k: K): v.InferOutput<(typeof ArgsSchemas)[K]> => {
      const r = v.safeParse(ArgsSchemas[k], req.args);
      if (!r.success) throw new VtorqueError('INTERNAL', `node-ops ${k}: ${v.getDotPath(r.issues[0]) ?? 'args'}: ${r.issues[0].message}`, { fault: 'node' });
      return r.output;
    };
    const reservation = (): NodeReservation => {
      if (s.held === null) throw new VtorqueError('INTERNAL', `node-ops ${req.op}: the node is not reserved`, { fault: 'node' });
      return s.held;
    };
    switch (req.op) {
      case 'hello':
        return { version: NODE_OPS_VERSION, name: node.name, domainType: node.domainType, leases: node.leases !== null, ops: NODE_OPS };
      case 'reserve': {
        if (s.held !== null) throw new VtorqueError('INTERNAL', 'node-ops reserve: the node is already reserved by this head', { fault: 'node' });
        const r = await node.reserve({ timeoutMs: args('reserve').timeoutMs });
        s.held = r;
        return { state: nodeStateToWire(r.state), waitedMs: r.waitedMs };
      }
      case 'prepare': {
        const a = args('prepare');
        // The plan is the head's; this node re-derives its own paths and checks them (placeOnNode, prepareJob).
        const prepared = await reservation().prepare(a.plan as unknown as JobPlan, { guestEnv: a.guestEnv, boot: a.boot, ...(a.jobKey === undefined ? {} : { jobKey: Buffer.from(a.jobKey, 'base64') }) });
        return { vms: prepared.vms, userKey: prepared.userKey.toString('base64'), qemu: prepared.qemu };
      }
      case 'boot': {
        const booted = await reservation().boot({ timeoutMs: args('boot').timeoutMs });
        return { bootSince: booted.bootSince, stale: [...booted.stale] };
      }
      case 'release': {
        const r = s.held;
        s.held = null;
        await r?.release();
        return {};
      }
      case 'readNeighbours':
        return { text: await node.readNeighbours() };
      case 'leases':
        return { candidates: node.leases ? await node.leases(args('leases').mac) : [] };
      case 'consoleSizes':
        return { sizes: args('consoleSizes').vms.map((name) => node.consoleSize(name)) };
      case 'cpuTimes':
        return { cpuMs: await node.cpuTimes(args('cpuTimes').vms) };
      case 'reviveVms':
        return { revived: await node.reviveVms(args('reviveVms').vms) };
      case 'writeVmRecords': {
        const a = args('writeVmRecords');
        await node.writeVmRecords(a.jobId, a.vms);
        return {};
      }
      case 'stopVms': {
        const a = args('stopVms');
        return await node.stopVms(a.jobId, { keepLogs: a.keepLogs, ramdisk: a.ramdisk });
      }
    }
  }
}
