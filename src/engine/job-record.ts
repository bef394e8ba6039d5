import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import type { SiteConfig } from '../core/config/index.js';
import { jobDirName, RECORDS_DIR } from '../core/contract/job-state.v1.js';
import { VtorqueError } from '../core/errors.js';
import { lstatNoFollow, mkdirPrivate, readFileNoFollow, replaceFileAtomic, unlinkNoFollow } from '../core/fs/index.js';
import { COMPONENT_NAMES, type ComponentCommand } from './components.js';

/**
 * Root's own record of a job on this node: everything its teardown needs, written by the start
 * before it makes anything and updated as it goes (components, then the planned VMs). The
 * epilogue, a cancel and gc act only on this record plus what libvirt reports with our owner
 * metadata, never on anything the job owner can write (Torque chows the job script to him).
 *
 * `SPOOL_DIR/records/<job>.json`, root 0600 in a root 0700 directory, replaced atomically.
 */
export interface JobRecordV1 {
  readonly version: 1;
  readonly jobId: string;
  readonly owner: { readonly user: string; readonly uid: number };
  /** This node's name as the allocation spells it. */
  readonly node: string;
  /**
   * The job's other nodes (a multi-node job whose head this node is): the stop tears their VMs
   * down through their node agents. Absent in records written before multi-node jobs: none.
   */
  readonly sisters?: readonly string[];
  /** Keep the VMs' console logs after teardown (the validated request's `debug`). */
  readonly keepLogs: boolean;
  /** Stop commands of the job's node components, exactly as decided when it started. */
  readonly componentStops: readonly ComponentCommand[];
  /** Domains the start planned (teardown also finds them by name prefix and owner metadata). */
  readonly vms: readonly string[];
  /** The job's tmpfs (fs_type=ramdisk), when the plan has one. */
  readonly ramdisk: string | null;
  /** QEMU_USER job-uid: the uid the job's qemu ran as (no process may keep it after teardown). */
  readonly qemuUid: number | null;
  readonly createdMs: number;
}

export { RECORDS_DIR };
const MAX_RECORD_BYTES = 1 << 20;

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
const Command = v.strictObject({
  name: v.picklist(COMPONENT_NAMES),
  argv: v.pipe(v.array(text(4096)), v.minLength(1), v.maxLength(256)),
  env: v.record(v.pipe(v.string(), v.regex(/^[A-Z_][A-Z0-9_]{0,63}$/)), text(4096)),
});
const RecordSchema = v.strictObject({
  version: v.literal(1),
  jobId: v.pipe(text(256), v.minLength(1)),
  owner: v.strictObject({ user: v.pipe(text(64), v.minLength(1)), uid: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
  node: text(255),
  sisters: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/))), v.maxLength(4096))),
  keepLogs: v.boolean(),
  componentStops: v.pipe(v.array(Command), v.maxLength(16)),
  vms: v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]{1,200}$/))), v.maxLength(1024)),
  ramdisk: v.nullable(v.pipe(text(4096), v.startsWith('/'))),
  qemuUid: v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1))),
  createdMs: v.number(),
});

export function recordPath(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): string {
  return join(config.SPOOL_DIR, RECORDS_DIR, `${jobDirName(jobId)}.json`);
}

/** Write (or replace) the job's record; the directory is made root 0700 when missing. */
export function writeJobRecord(config: Pick<SiteConfig, 'SPOOL_DIR'>, record: JobRecordV1): void {
  mkdirPrivate(join(config.SPOOL_DIR, RECORDS_DIR), 0o700);
  replaceFileAtomic(recordPath(config, record.jobId), `${JSON.stringify(record)}\n`, 0o600);
}

/** Update fields of an existing record (the start adds to it as it goes). */
export function updateJobRecord(config: Pick<SiteConfig, 'SPOOL_DIR'>, record: JobRecordV1, change: Partial<Omit<JobRecordV1, 'version' | 'jobId'>>): JobRecordV1 {
  const next = { ...record, ...change };
  writeJobRecord(config, next);
  return next;
}

/**
 * The job's record, or null when there is none. A record that does not parse was not written by
 * us (the directory is root's alone) or was cut short by a crash; it is refused with the reason,
 * and the caller tears down by job id only.
 */
export function readJobRecord(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): JobRecordV1 | null {
  const path = recordPath(config, jobId);
  if (!lstatNoFollow(path, { trusted: true })) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileNoFollow(path, MAX_RECORD_BYTES));
  } catch (err) {
    throw new VtorqueError('INTERNAL', `job record ${path} is unreadable: ${(err as Error).message}`, { cause: err, fault: 'node' });
  }
  const parsed = v.safeParse(RecordSchema, raw);
  if (!parsed.success) {
    const first = parsed.issues[0];
    throw new VtorqueError('INTERNAL', `job record ${path} is malformed at ${first ? (v.getDotPath(first) ?? '(top)') : '(top)'}: ${first?.message ?? 'invalid'}`, { fault: 'node' });
  }
  if (parsed.output.jobId !== jobId) throw new VtorqueError('INTERNAL', `job record ${path} belongs to job ${parsed.output.jobId}, not ${jobId}`, { fault: 'node' });
  return parsed.output as JobRecordV1;
}

export function removeJobRecord(config: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): void {
  const dir = join(config.SPOOL_DIR, RECORDS_DIR);
  if (lstatNoFollow(dir, { trusted: true })) unlinkNoFollow(recordPath(config, jobId));
}

/** Job ids of every record on this node (gc), from the records themselves; unreadable ones by file stem. */
export function listJobRecords(config: Pick<SiteConfig, 'SPOOL_DIR'>): { jobId: string; record: JobRecordV1 | null }[] {
  const dir = join(config.SPOOL_DIR, RECORDS_DIR);
  const st = lstatNoFollow(dir, { trusted: true });
  if (!st?.isDirectory()) return [];
  const out: { jobId: string; record: JobRecordV1 | null }[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file.startsWith('.')) continue;
    const stem = file.slice(0, -'.json'.length);
    try {
      const raw = JSON.parse(readFileNoFollow(join(dir, file), MAX_RECORD_BYTES)) as { jobId?: unknown };
      const jobId = typeof raw.jobId === 'string' && jobDirName(raw.jobId) === stem ? raw.jobId : stem;
      out.push({ jobId, record: readJobRecord(config, jobId) });
    } catch {
      out.push({ jobId: stem, record: null });
    }
  }
  return out;
}
