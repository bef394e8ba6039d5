import { isIP } from 'node:net';
import * as v from 'valibot';
import { ValidationError, type Issue } from '../../core/errors.js';
import { RUNNER_EXIT } from '../exit-codes.js';

/** The contract script files (vm_prologue, vm_epilogue) are bounded like the request's embedded files. */
const SCRIPT_MAX = 4 * 1024 * 1024;
const script = v.nullable(v.pipe(v.string(), v.maxLength(SCRIPT_MAX)));

/** `job.json` (JobStateV1), as far as the runner uses it; the prologue's copy of `vms` is ignored. */
const JobStateSchema = v.object({
  version: v.literal(1),
  jobId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  user: v.pipe(v.string(), v.regex(/^[^\0-\x20\x7f:/]{1,64}$/, 'a user name')),
  guestJobDir: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$/, 'one safe path element')),
  vmPrologue: script,
  vmEpilogue: script,
});
export type RunnerJobState = v.InferOutput<typeof JobStateSchema>;

/** One `vms.json` record (VmRecord), as far as the runner uses it. */
const VmSchema = v.object({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,128}$/, 'a VM name')),
  rank: v.pipe(v.number(), v.integer(), v.minValue(0)),
  ip: v.nullable(v.pipe(v.string(), v.check((s) => isIP(s) !== 0, 'an IP address'))),
  hostKey: v.pipe(v.string(), v.minLength(1), v.maxLength(16384)),
  vcpus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)), 1),
});
const VmsSchema = v.pipe(v.array(VmSchema), v.minLength(1));
export type RunnerVmRecord = v.InferOutput<typeof VmSchema>;

/** `outcome.json` (OutcomeV1): why the VMs did not start, and the job's exit code. */
const OutcomeSchema = v.object({
  version: v.literal(1),
  jobId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  fault: v.picklist(['job', 'node', 'cancel']),
  reason: v.pipe(v.string(), v.maxLength(4096)),
  exitCode: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(255)),
});

export function parseOutcome(raw: unknown, source: string): v.InferOutput<typeof OutcomeSchema> {
  return parseWith(OutcomeSchema, raw, source);
}

export function parseJobState(raw: unknown, source: string): RunnerJobState {
  return parseWith(JobStateSchema, raw, source);
}

export function parseVmRecords(raw: unknown, source: string): RunnerVmRecord[] {
  return parseWith(VmsSchema, raw, source);
}

function parseWith<S extends v.GenericSchema>(schema: S, raw: unknown, source: string): v.InferOutput<S> {
  const result = v.safeParse(schema, raw);
  if (result.success) return result.output;
  const issues: Issue[] = result.issues.map((i) => ({
    source,
    key: v.getDotPath(i) ?? '(top level)',
    value: i.input,
    // regex and check issues carry our own wording in `message`; the others say it in `expected`.
    expected: i.type === 'regex' || i.type === 'check' ? i.message : (i.expected ?? i.message),
  }));
  throw new ValidationError('INTERNAL', issues, { exitCode: RUNNER_EXIT.setup, fault: 'node' });
}
