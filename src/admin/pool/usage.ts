import { readdirSync } from 'node:fs';
import { basename, join, normalize } from 'node:path';
import * as v from 'valibot';
import { jobDirName, RECORDS_DIR } from '../../core/contract/job-state.v1.js';
import { VtorqueError } from '../../core/errors.js';
import { lstatNoFollow, readFileNoFollow } from '../../core/fs/index.js';
import { parseOwnerMetadata } from '../../core/libvirt/index.js';
import { BOOT_FILE_SUFFIXES, inImagePool } from '../../core/pool/images.js';
import { IMAGE_NAME } from '../../core/request/index.js';

/**
 * Which jobs on this node use a pool image now, decided from what root and libvirt hold only:
 * the domains libvirt has (their XML as libvirt reports it: the disks' sources and backing
 * stores, the direct kernel boot files, our owner element) and root's own job records
 * (`SPOOL_DIR/records/<job>.json`, root 0600 in a root 0700 directory). Nothing a job owner can
 * write (his job.json, his job script, an overlay his qemu owns) is read.
 */

/** One domain as libvirt reports it. */
export interface DomainView {
  readonly name: string;
  readonly active: boolean;
  readonly xml: string;
}

/** Where the domains come from (the CLI's libvirt connection; a list in tests). `where` names it in messages. */
export interface DomainSource {
  readonly where: string;
  list(): Promise<readonly DomainView[]>;
}

export interface ImageUser {
  /** The vTorque job (from the domain's owner element or root's record); null: a VM vTorque did not start. */
  readonly jobId: string | null;
  readonly owner: string | null;
  readonly vms: readonly { readonly name: string; readonly running: boolean }[];
  /** Root holds a record of this job on this node (it has not been stopped). */
  readonly recorded: boolean;
  /**
   * Whether it keeps the image from being deleted or replaced: a running VM, a defined VM of a job
   * root still records or of nobody's job. Not: a shut-off VM of a job root no longer records (a
   * leftover gc reaps).
   */
  readonly blocking: boolean;
}

/** The whole pool's use on this node. */
export interface PoolUse {
  readonly users: ReadonlyMap<string, readonly ImageUser[]>;
  /** Jobs root records on this node; null when the records could not be read (not root, or unsafe). */
  readonly recordedJobs: readonly string[] | null;
  /** Why libvirt's view is missing, or null when it answered. */
  readonly libvirtProblem: string | null;
  /** Why root's records are missing (null when read, or when not asked for). */
  readonly recordsProblem: string | null;
}

/** One image's use. `unknown`: what could not be told and which recorded jobs might use it. */
export interface ImageUse {
  readonly image: string;
  readonly users: readonly ImageUser[];
  readonly unknown: { readonly reason: string; readonly jobs: readonly string[] | null } | null;
}

interface RecordView {
  readonly jobId: string;
  readonly owner: string | null;
  readonly vms: readonly string[];
  /** The pool image the job started from, when the record names it (see readRecords). */
  readonly baseImage: string | null;
}

/**
 * The part of root's job record (engine/job-record.ts, JobRecordV1) vmgr reads. Not strict: the
 * record's other fields are teardown's. `baseImage` is not written by the engine today; a record
 * that names it lets a job count from its first step, before libvirt has its VMs.
 */
const RecordViewSchema = v.object({
  version: v.literal(1),
  jobId: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  owner: v.object({ user: v.pipe(v.string(), v.minLength(1), v.maxLength(64)) }),
  vms: v.pipe(v.array(v.pipe(v.string(), v.maxLength(200))), v.maxLength(1024)),
  baseImage: v.optional(v.pipe(v.string(), v.maxLength(4096))),
});
const MAX_RECORD_BYTES = 1 << 20;

/** Root's records of this node's jobs; a record that does not parse still names its job (by its file). */
export function readRecords(spoolDir: string): RecordView[] {
  const dir = join(spoolDir, RECORDS_DIR);
  const st = lstatNoFollow(dir, { trusted: true });
  if (!st?.isDirectory()) return [];
  const out: RecordView[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json') || file.startsWith('.')) continue;
    const stem = file.slice(0, -'.json'.length);
    let parsed: v.SafeParseResult<typeof RecordViewSchema> | null = null;
    try {
      parsed = v.safeParse(RecordViewSchema, JSON.parse(readFileNoFollow(join(dir, file), MAX_RECORD_BYTES)) as unknown);
    } catch {
      parsed = null;
    }
    if (parsed?.success && jobDirName(parsed.output.jobId) === stem) {
      const r = parsed.output;
      out.push({ jobId: r.jobId, owner: r.owner.user, vms: r.vms, baseImage: r.baseImage ?? null });
    } else {
      out.push({ jobId: stem, owner: null, vms: [], baseImage: null });
    }
  }
  return out;
}

/** The pool image a file of a domain belongs to (the image itself or one of its boot files), or null. */
export function poolImageOf(poolDir: string, file: string): string | null {
  const path = normalize(file);
  if (!inImagePool(poolDir, path)) return null;
  const base = basename(path);
  if (IMAGE_NAME.test(base)) return base;
  for (const suffix of Object.values(BOOT_FILE_SUFFIXES)) {
    if (base.endsWith(suffix) && IMAGE_NAME.test(base.slice(0, -suffix.length))) return base.slice(0, -suffix.length);
  }
  return null;
}

const SOURCE_FILE = /<source\s[^<>]*?\bfile\s*=\s*(?:'([^'<]*)'|"([^"<]*)")/g;
const BOOT_FILE = /<(kernel|initrd)>([^<]*)<\/\1>/g;
const REFERENCE = /&(?:#x([0-9a-fA-F]{1,6})|#([0-9]{1,7})|(lt|gt|amp|quot|apos));/g;
const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(REFERENCE, (_m, hex?: string, dec?: string, named?: string) => {
    if (named) return ENTITIES[named] ?? '';
    const code = parseInt(hex ?? dec ?? '', hex ? 16 : 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}

/**
 * Every file a domain's XML names that could be a pool file: each `<source file=…>` (a disk, its
 * backing stores at any depth) and the direct kernel boot's `<kernel>` and `<initrd>`. Text that
 * merely looks like an element is escaped in XML, so it cannot be taken for one.
 */
export function filesOfDomain(xml: string): string[] {
  const files: string[] = [];
  for (const m of xml.matchAll(SOURCE_FILE)) files.push(unescapeXml(m[1] ?? m[2] ?? ''));
  for (const m of xml.matchAll(BOOT_FILE)) files.push(unescapeXml((m[2] ?? '').trim()));
  return files.filter((f) => f.startsWith('/'));
}

/**
 * The pool's use on this node. `domains`: libvirt's view (null: not asked); `readRecordsToo`: read
 * root's records (root only: the directory is root's 0700). Never throws for libvirt or records it
 * cannot read: it says so in `libvirtProblem` / `recordsProblem`.
 */
export async function readPoolUse(opts: { readonly poolDir: string; readonly spoolDir: string; readonly domains: DomainSource | null; readonly readRecordsToo: boolean }): Promise<PoolUse> {
  let records: RecordView[] | null = null;
  let recordsProblem: string | null = null;
  if (opts.readRecordsToo) {
    try {
      records = readRecords(opts.spoolDir);
    } catch (err) {
      recordsProblem = `root's job records in ${join(opts.spoolDir, RECORDS_DIR)} cannot be read: ${oneLine(err)}`;
    }
  }
  let domains: readonly DomainView[] = [];
  let libvirtProblem: string | null = null;
  if (opts.domains === null) libvirtProblem = 'libvirt was not asked';
  else {
    try {
      domains = await opts.domains.list();
    } catch (err) {
      libvirtProblem = `libvirt (${opts.domains.where}) did not answer: ${oneLine(err)}`;
    }
  }
  return { users: usersByImage(opts.poolDir, domains, records), recordedJobs: records?.map((r) => r.jobId) ?? null, libvirtProblem, recordsProblem };
}

function usersByImage(poolDir: string, domains: readonly DomainView[], records: readonly RecordView[] | null): Map<string, ImageUser[]> {
  const recordOf = (jobId: string | null, domain: string): RecordView | undefined =>
    records?.find((r) => (jobId !== null && r.jobId === jobId) || r.vms.includes(domain));
  // image -> job key -> user being built
  const acc = new Map<string, Map<string, { jobId: string | null; owner: string | null; vms: { name: string; running: boolean }[]; recorded: boolean; blocking: boolean }>>();
  const entry = (image: string, key: string, init: () => { jobId: string | null; owner: string | null; recorded: boolean }) => {
    let byJob = acc.get(image);
    if (!byJob) acc.set(image, (byJob = new Map()));
    let e = byJob.get(key);
    if (!e) byJob.set(key, (e = { ...init(), vms: [], blocking: false }));
    return e;
  };
  for (const d of domains) {
    const images = new Set(filesOfDomain(d.xml).map((f) => poolImageOf(poolDir, f)).filter((i): i is string => i !== null));
    if (images.size === 0) continue;
    const owner = parseOwnerMetadata(d.xml);
    const record = recordOf(owner?.job ?? null, d.name);
    const jobId = owner?.job ?? record?.jobId ?? null;
    const recorded = record !== undefined;
    // A shut-off VM blocks unless it is a vTorque job's that root no longer records (a leftover).
    const blocking = d.active || jobId === null || recorded || records === null;
    for (const image of images) {
      const e = entry(image, jobId === null ? `domain:${d.name}` : `job:${jobId}`, () => ({ jobId, owner: owner?.user ?? record?.owner ?? null, recorded }));
      e.vms.push({ name: d.name, running: d.active });
      e.blocking ||= blocking;
    }
  }
  for (const r of records ?? []) {
    const image = r.baseImage === null ? null : poolImageOf(poolDir, r.baseImage);
    if (image === null) continue;
    const e = entry(image, `job:${r.jobId}`, () => ({ jobId: r.jobId, owner: r.owner, recorded: true }));
    e.blocking = true;
  }
  const out = new Map<string, ImageUser[]>();
  for (const [image, byJob] of acc) out.set(image, [...byJob.values()].sort((a, b) => (a.jobId ?? '').localeCompare(b.jobId ?? '')));
  return out;
}

/** One image's use, from the pool's. */
export function useOf(pool: PoolUse, image: string): ImageUse {
  const users = pool.users.get(image) ?? [];
  const reason = pool.libvirtProblem;
  return { image, users, unknown: reason === null ? null : { reason, jobs: pool.recordedJobs } };
}

/** `job 12.srv (VM vtq-12-n1-0 running)`, `VM site-vm (not a vTorque job, shut off)`. */
export function userText(u: ImageUser, withVms = true): string {
  const vms = u.vms.map((vm) => `${vm.name} ${vm.running ? 'running' : 'shut off'}`);
  if (u.jobId === null) return `VM ${u.vms.map((vm) => vm.name).join(', ')} (not a vTorque job${u.vms.some((vm) => vm.running) ? '' : ', shut off'})`;
  if (!withVms) return `job ${u.jobId}`;
  const detail = vms.length > 0 ? `VM${vms.length > 1 ? 's' : ''} ${vms.join(', ')}` : 'starting, no VM defined yet';
  return `job ${u.jobId} (${detail})`;
}

/**
 * Refuse `action` (`vmgr delete image`, `vmgr add --replace`) on an image a job on this node uses, naming the
 * jobs; refuse too when libvirt's view is missing while root records jobs on this node (any of
 * them might use it). With libvirt unreachable and no job recorded, no vTorque job runs here.
 */
export function refuseWhileUsed(use: ImageUse, action: 'delete' | 'replace'): void {
  const blocking = use.users.filter((u) => u.blocking);
  if (blocking.length > 0) {
    throw new VtorqueError('REQUEST_INVALID', `image ${use.image} is in use on this node by ${blocking.map((u) => userText(u)).join('; ')}: ${action} it when they have ended`, { fault: 'job' });
  }
  if (use.unknown !== null && (use.unknown.jobs === null || use.unknown.jobs.length > 0)) {
    const who = use.unknown.jobs === null ? 'the jobs on this node' : `job${use.unknown.jobs.length > 1 ? 's' : ''} ${use.unknown.jobs.join(', ')} on this node`;
    throw new VtorqueError('LIBVIRT_FAILED', `image ${use.image}: cannot tell whether ${who} use it, so it is not ${action === 'delete' ? 'deleted' : 'replaced'}: ${use.unknown.reason}; retry when libvirt answers`, { fault: 'node' });
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
