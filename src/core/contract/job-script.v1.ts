import * as v from 'valibot';
import { DISTROS, FS_TYPES } from '../config/index.js';
import { ValidationError, VtorqueError } from '../errors.js';
import { LIMITS } from '../request/index.js';
import type { VmRequest } from '../request/index.js';

/**
 * Contract v1 between vsub (user) and the root hooks: the job wrapper's second line carries the
 * frozen request, a later comment line the user's job script. Both ride inside the job script, so
 * Torque keeps a root-owned copy (mom_priv/jobs/<id>.SC) that the user cannot change after submit.
 */
export const REQUEST_MARKER = '#VTORQUE-REQUEST v1 ';
export const SCRIPT_MARKER = '#VTORQUE-SCRIPT v1 ';
/** Upper bound on what the hooks accept from a job script line (guards memory and parse time). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

export function encodeRequestLine(request: VmRequest): string {
  return REQUEST_MARKER + Buffer.from(JSON.stringify(request), 'utf8').toString('base64url');
}

export function encodeScriptLine(script: string): string {
  return SCRIPT_MARKER + Buffer.from(script, 'utf8').toString('base64url');
}

/** Is this job script a VM job? Only line 2 counts, so the hook's shell front can decide cheaply. */
export function hasRequestLine(scriptText: string): boolean {
  const lines = scriptText.split('\n', 3);
  return (lines[1] ?? '').startsWith(REQUEST_MARKER);
}

const text = (max: number) => v.pipe(v.string(), v.maxLength(max), v.regex(/^[^\0]*$/));
const path = v.pipe(v.string(), v.maxLength(LIMITS.pathChars), v.regex(/^\/[^\0\r\n]*$/));
const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const embedded = v.nullable(v.strictObject({ path, content: text(4 * 1024 * 1024) }));

const FrozenRequestSchema = v.strictObject({
  version: v.literal(1),
  img: v.pipe(v.string(), v.maxLength(LIMITS.pathChars), v.regex(/^[^\0\r\n]+$/)),
  distro: v.picklist(DISTROS),
  arch: v.literal('x86_64'),
  vcpus: int(LIMITS.vcpus.min, LIMITS.vcpus.max),
  ram: int(LIMITS.ramMiB.min, LIMITS.ramMiB.max),
  vms_per_node: int(LIMITS.vmsPerNode.min, LIMITS.vmsPerNode.max),
  vcpu_pinning: v.union([
    v.boolean(),
    v.strictObject({ path, cpus: v.pipe(v.array(v.pipe(v.array(int(0, 65535)), v.maxLength(1024))), v.maxLength(256)) }),
  ]),
  disk: v.nullable(path),
  vm_prologue: embedded,
  vm_epilogue: embedded,
  fs_type: v.picklist(FS_TYPES),
  metadata: v.nullable(v.strictObject({ path, data: v.record(v.string(), v.unknown()) })),
  vrdma: v.boolean(),
  iocm: v.boolean(),
  iocm_min_cores: int(LIMITS.iocmCores.min, LIMITS.iocmCores.max),
  iocm_max_cores: int(LIMITS.iocmCores.min, LIMITS.iocmCores.max),
  unclot: v.boolean(),
  unclot_shmem: int(LIMITS.shmemMiB.min, LIMITS.shmemMiB.max),
  debug: v.boolean(),
  trace: v.boolean(),
});

export interface DecodedJobScript {
  readonly request: VmRequest;
  readonly script: string;
}

/**
 * Read the request and the user's script back from a job script (the root side's only source).
 * Returns null for a plain job; throws a ValidationError (exit 1: a bad request, not a node fault)
 * when the marker is there but the payload is malformed.
 */
export function decodeJobScript(scriptText: string, source: string): DecodedJobScript | null {
  if (!hasRequestLine(scriptText)) return null;
  const lines = scriptText.split('\n');
  const requestLine = lines[1] as string;
  const scriptLine = lines.find((l) => l.startsWith(SCRIPT_MARKER));
  if (requestLine.length > MAX_LINE_BYTES || scriptLine === undefined || scriptLine.length > MAX_LINE_BYTES) {
    throw new VtorqueError('REQUEST_INVALID', `${source}: VM job script is malformed (request or script line missing or too large)`, { fault: 'job' });
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(requestLine.slice(REQUEST_MARKER.length), 'base64url').toString('utf8'));
  } catch {
    throw new VtorqueError('REQUEST_INVALID', `${source}: the frozen VM request is not valid base64url JSON`, { fault: 'job' });
  }
  const parsed = v.safeParse(FrozenRequestSchema, json);
  if (!parsed.success) {
    throw new ValidationError(
      'REQUEST_INVALID',
      parsed.issues.map((i) => ({
        source,
        key: v.getDotPath(i) ?? '(request)',
        value: i.input,
        expected: i.expected ?? i.message,
      })),
      { fault: 'job' },
    );
  }
  const script = Buffer.from(scriptLine.slice(SCRIPT_MARKER.length), 'base64url').toString('utf8');
  return { request: parsed.output as VmRequest, script };
}
