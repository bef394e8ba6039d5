import { readFileSync, writeFileSync } from 'node:fs';
import * as v from 'valibot';
import { MAX_NODES } from './options.js';

/** What `up` made, so `down` and `status` find every node even when called without --nodes. */
const RecordSchema = v.object({
  version: v.literal(1),
  name: v.string(),
  nodes: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_NODES)),
  subnet: v.string(),
  /** Absent in records of testbeds made before Slurm: Torque. */
  scheduler: v.optional(v.picklist(['torque', 'slurm'])),
  createdAt: v.string(),
});
export type TestbedRecord = v.InferOutput<typeof RecordSchema>;

export function readRecord(path: string): TestbedRecord | null {
  try {
    const parsed = v.safeParse(RecordSchema, JSON.parse(readFileSync(path, 'utf8')));
    return parsed.success ? parsed.output : null;
  } catch {
    return null;
  }
}

export function writeRecord(path: string, record: TestbedRecord): void {
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}
