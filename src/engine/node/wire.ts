import * as v from 'valibot';
import { ERROR_CODES, VtorqueError, type ErrorCode, type Fault } from '../../core/errors.js';
import type { NodeState } from '../types.js';

/**
 * Node operations v1: what the head of a job sends to a node agent and what comes back, one JSON
 * object per line each way (`{id, op, args}` → `{id, ok}` or `{id, error}`). The operations are
 * those of NodeAccess; what is not plain JSON there (sets, a key) has a wire form here. `hello`
 * lists the operations an agent serves: one added later (reviveVms, cpuTimes) is asked only of an
 * agent that lists it.
 */
export const NODE_OPS_VERSION = 1;

export const NODE_OPS = ['hello', 'reserve', 'prepare', 'boot', 'release', 'readNeighbours', 'leases', 'consoleSizes', 'cpuTimes', 'reviveVms', 'writeVmRecords', 'stopVms'] as const;
export type NodeOp = (typeof NODE_OPS)[number];

/** Most VM names one reviveVms or cpuTimes request names (a node runs far fewer VMs). */
export const MAX_VMS_PER_REQUEST = 4096;

/** Longest line either side accepts (a plan of many VMs with embedded scripts stays far below). */
export const MAX_LINE_BYTES = 32 << 20;

export const RequestSchema = v.object({
  id: v.pipe(v.number(), v.integer(), v.minValue(1)),
  op: v.picklist(NODE_OPS),
  args: v.optional(v.record(v.string(), v.unknown()), {}),
});
export type NodeRequest = v.InferOutput<typeof RequestSchema>;

export const ResponseSchema = v.union([
  v.object({ id: v.pipe(v.number(), v.integer(), v.minValue(1)), ok: v.unknown() }),
  v.object({
    id: v.pipe(v.number(), v.integer(), v.minValue(1)),
    error: v.object({
      code: v.picklist(ERROR_CODES),
      message: v.pipe(v.string(), v.maxLength(16384)),
      fault: v.picklist(['job', 'node', 'cancel']),
      exitCode: v.optional(v.pipe(v.number(), v.integer()), 1),
    }),
  }),
]);
export type NodeResponse = v.InferOutput<typeof ResponseSchema>;

/** The job's private key as it crosses either way: base64, bounded (an ed25519 key is ~0.5 KiB). */
export const KeyWireSchema = v.pipe(v.string(), v.maxLength(65536), v.base64());

/** An error as it crosses: its code, its fault (decided where it was raised) and its sentence. */
export function errorToWire(err: unknown): { code: ErrorCode; message: string; fault: Fault; exitCode: number } {
  if (err instanceof VtorqueError) return { code: err.code, message: err.message, fault: err.fault, exitCode: err.exitCode };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), fault: 'node', exitCode: 1 };
}

const uint = v.pipe(v.number(), v.integer(), v.minValue(0));
export const NodeStateWireSchema = v.object({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  capacity: v.object({
    cores: uint,
    memMiB: uint,
    numa: v.record(v.string(), v.array(uint)),
  }),
  usedMacs: v.array(v.string()),
  busyCpus: v.array(uint),
  busyQemuUids: v.array(uint),
  heldMemMiB: uint,
});
export type NodeStateWire = v.InferOutput<typeof NodeStateWireSchema>;

export function nodeStateToWire(s: NodeState): NodeStateWire {
  return { name: s.name, capacity: { cores: s.capacity.cores, memMiB: s.capacity.memMiB, numa: { ...s.capacity.numa } }, usedMacs: [...s.usedMacs], busyCpus: [...s.busyCpus], busyQemuUids: [...s.busyQemuUids], heldMemMiB: s.heldMemMiB };
}

export function nodeStateFromWire(w: NodeStateWire): NodeState {
  const numa: Record<number, number[]> = {};
  for (const [k, cpus] of Object.entries(w.capacity.numa)) numa[Number(k)] = cpus;
  return { name: w.name, capacity: { cores: w.capacity.cores, memMiB: w.capacity.memMiB, numa }, usedMacs: new Set(w.usedMacs), busyCpus: new Set(w.busyCpus), busyQemuUids: new Set(w.busyQemuUids), heldMemMiB: w.heldMemMiB };
}

/** Parse what came over the wire with `schema`, or fail naming the node and the operation (the node's fault). */
export function fromWire<S extends v.GenericSchema>(schema: S, value: unknown, node: string, what: string): v.InferOutput<S> {
  const r = v.safeParse(schema, value);
  if (r.success) return r.output;
  const issue = r.issues[0];
  throw new VtorqueError('INTERNAL', `node ${node}: ${what} is not node-ops v${NODE_OPS_VERSION} (${v.getDotPath(issue) ?? 'top level'}: ${issue.message})`, { fault: 'node' });
}
