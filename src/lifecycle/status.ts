import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import type { SiteConfig } from '../core/config/index.js';
import { jobDirName } from '../core/contract/job-state.v1.js';
import { lstatNoFollow, mkdirPrivate, readFileNoFollow, replaceFileAtomic, unlinkNoFollow } from '../core/fs/index.js';
import type { EngineLog, StartRecord } from '../engine/index.js';
import { reason } from './classify.js';
import type { StartOutcome } from './job-context.js';

/**
 * A job's history on its head node for `vtorque status`: every start (a requeued job has more than
 * one) with its phases and, per VM, when it got its address and took SSH, and how the job ended.
 * Root keeps its own copy (SPOOL_DIR/status/<job>.json, 0600: the only one it reads back) and
 * writes the owner a copy they alone can read (<job>.owner.json, theirs, 0400, in a directory
 * only root can list). Both outlive the job until gc reaps them (STATUS_KEEP_SECONDS).
 */
export const STATUS_DIR = 'status';
/** How long a job's status stays after its last change. */
export const STATUS_KEEP_SECONDS = 3 * 24 * 3600;
const MAX_ATTEMPTS = 20;

const Phase = v.object({ phase: v.string(), startMs: v.number(), endMs: v.number() });
const VmTimes = v.object({ name: v.string(), node: v.string(), addressMs: v.nullable(v.number()), readyMs: v.nullable(v.number()) });
const Attempt = v.object({
  startedAt: v.number(),
  nodes: v.array(v.string()),
  result: v.picklist(['running', 'failed']),
  fault: v.nullable(v.string()),
  reason: v.nullable(v.string()),
  phases: v.array(Phase),
  vms: v.array(VmTimes),
});
export const JobStatusV1Schema = v.object({
  version: v.literal(1),
  jobId: v.string(),
  owner: v.object({ user: v.string(), uid: v.number(), gid: v.number() }),
  scheduler: v.string(),
  attempts: v.pipe(v.array(Attempt), v.maxLength(MAX_ATTEMPTS)),
  ended: v.nullable(v.object({ at: v.number(), vmsTornDown: v.number(), left: v.array(v.string()), error: v.nullable(v.string()) })),
  updatedAt: v.number(),
});
export type JobStatusV1 = v.InferOutput<typeof JobStatusV1Schema>;
export type StartAttempt = v.InferOutput<typeof Attempt>;

const dirOf = (c: Pick<SiteConfig, 'SPOOL_DIR'>): string => join(c.SPOOL_DIR, STATUS_DIR);
export const statusPath = (c: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): string => join(dirOf(c), `${jobDirName(jobId)}.json`);
export const ownerStatusPath = (c: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string): string => join(dirOf(c), `${jobDirName(jobId)}.owner.json`);

/** A status file (root's or the owner's copy), checked; null when there is none. */
export function readStatusFile(path: string): JobStatusV1 | null {
  if (lstatNoFollow(path, { trusted: true }) === null) return null;
  return v.parse(JobStatusV1Schema, JSON.parse(readFileNoFollow(path, 1 << 20)));
}

/**
 * The owner's copy as its owner reads it (not root: the walk of readFileNoFollow opens each
 * directory, and SPOOL_DIR/status is 0711, so only the file itself is opened, without following
 * a link, size-bounded); null when there is none.
 */
export function readOwnerStatusFile(path: string): JobStatusV1 | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 1 << 20) throw new Error(`${path}: not a status record (${st.isFile() ? `${st.size} bytes` : 'not a regular file'})`);
    return v.parse(JobStatusV1Schema, JSON.parse(readFileSync(fd, 'utf8')));
  } finally {
    closeSync(fd);
  }
}

/** The attempt a start made, from its outcome and what the engine recorded as it went. */
export function startAttempt(startedAt: number, nodes: readonly string[], outcome: StartOutcome, record: StartRecord | null): StartAttempt {
  return {
    startedAt,
    nodes: [...nodes],
    result: outcome.kind,
    fault: outcome.kind === 'failed' ? outcome.fault : null,
    reason: outcome.kind === 'failed' ? outcome.reason.slice(0, 2000) : null,
    phases: (record?.marks ?? []).map((m) => ({ phase: m.phase, startMs: m.startMs, endMs: m.endMs })),
    vms: [...(record?.vms ?? new Map()).entries()].map(([name, t]) => ({ name, node: t.node, addressMs: t.addressMs, readyMs: t.readyMs })),
  };
}

function write(c: Pick<SiteConfig, 'SPOOL_DIR'>, s: JobStatusV1): void {
  mkdirPrivate(dirOf(c), 0o711);
  const text = `${JSON.stringify(s)}\n`;
  replaceFileAtomic(statusPath(c, s.jobId), text, 0o600);
  replaceFileAtomic(ownerStatusPath(c, s.jobId), text, 0o400, { uid: s.owner.uid, gid: s.owner.gid });
}

/** Root's own copy, or null (none, or one that no longer parses: started afresh). */
function own(c: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string, log: EngineLog): JobStatusV1 | null {
  try {
    return readStatusFile(statusPath(c, jobId));
  } catch (err) {
    log.warn({ err: reason(err) }, "the job's status record is unreadable; it starts afresh");
    return null;
  }
}

/** Add a start to the job's status (best effort: a status that cannot be written only logs). */
export function recordStartAttempt(c: Pick<SiteConfig, 'SPOOL_DIR'>, job: { jobId: string; owner: { user: string; uid: number; gid: number }; scheduler: string }, attempt: StartAttempt, log: EngineLog): void {
  try {
    const before = own(c, job.jobId, log);
    const attempts = [...(before?.attempts ?? []), attempt].slice(-MAX_ATTEMPTS);
    write(c, { version: 1, jobId: job.jobId, owner: { ...job.owner }, scheduler: job.scheduler, attempts, ended: null, updatedAt: Date.now() });
  } catch (err) {
    log.warn({ err: reason(err) }, "cannot record the job's start for vtorque status");
  }
}

/** Say how the job ended on its head (best effort). Nothing when no start was recorded. */
export function recordJobEnd(c: Pick<SiteConfig, 'SPOOL_DIR'>, jobId: string, end: { vmsTornDown: number; left: readonly string[]; error: string | null }, log: EngineLog): void {
  try {
    const before = own(c, jobId, log);
    if (before === null) return;
    write(c, { ...before, ended: { at: Date.now(), vmsTornDown: end.vmsTornDown, left: end.left.map((l) => l.slice(0, 300)).slice(0, 20), error: end.error }, updatedAt: Date.now() });
  } catch (err) {
    log.warn({ err: reason(err) }, "cannot record the job's end for vtorque status");
  }
}

/** Remove status records not changed for STATUS_KEEP_SECONDS (from root's own copies' times); the job ids removed. */
export function reapStatus(c: Pick<SiteConfig, 'SPOOL_DIR'>, now = Date.now(), keepSeconds = STATUS_KEEP_SECONDS): string[] {
  const dir = dirOf(c);
  if (!lstatNoFollow(dir, { trusted: true })) return [];
  const gone: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^(.+)\.json$/.exec(name);
    if (!m || name.endsWith('.owner.json')) continue;
    let s: JobStatusV1 | null = null;
    try {
      s = readStatusFile(join(dir, name));
    } catch {
      s = null;
    }
    if (s !== null && now - s.updatedAt < keepSeconds * 1000) continue;
    unlinkNoFollow(join(dir, name));
    unlinkNoFollow(join(dir, `${m[1]}.owner.json`));
    gone.push(m[1] as string);
  }
  return gone;
}
