import * as v from 'valibot';
import { JobStateV1Schema, OutcomeV1Schema, VmRecordSchema } from '../../core/contract/job-state.v1.js';
import { ValidationError, type Issue } from '../../core/errors.js';
import { RUNNER_EXIT } from '../exit-codes.js';

/** `job.json` as far as the runner uses it: the prologue's copy of `vms` is ignored (vms.json is root's). */
const JobStateSchema = v.omit(JobStateV1Schema, ['vms']);
export type RunnerJobState = v.InferOutput<typeof JobStateSchema>;

/** One `vms.json` record as far as the runner uses it. */
const VmSchema = v.pick(VmRecordSchema, ['name', 'rank', 'ip', 'hostKey', 'vcpus', 'node']);
const VmsSchema = v.pipe(v.array(VmSchema), v.minLength(1));
export type RunnerVmRecord = v.InferOutput<typeof VmSchema>;
const OutcomeSchema = OutcomeV1Schema;

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
