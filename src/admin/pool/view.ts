import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { VtorqueError } from '../../core/errors.js';
import { findExecutable } from '../../core/exec/which.js';
import { readFileNoFollow } from '../../core/fs/index.js';
import { BOOT_FILE_SUFFIXES, listPoolImages, type PoolImage } from '../../core/pool/images.js';
import { IMAGE_NAME } from '../../core/request/index.js';
import { inspectDisk, type DiskFacts } from './inspect.js';
import { changedSince, readImageMeta, type ImageMetaV1 } from './meta.js';
import { userText, type ImageUse } from './usage.js';

/** How a recorded checksum stands against the file as it is now. */
export type Sha256State = 'recorded' | 'not-recorded' | 'changed-since-recorded' | 'record-unusable';

/** One pool image as `vmgr show images` shows it (`--json`: this object). */
export interface ImageView {
  readonly name: string;
  readonly description: string;
  readonly format: string | null;
  readonly virtualSizeBytes: number | null;
  readonly diskSizeBytes: number | null;
  readonly fileSizeBytes: number;
  readonly modified: string;
  /** As the image names it; never followed. */
  readonly backingFile: DiskFacts['backing'];
  /** As `vmgr add` recorded it while copying; null when there is no usable record. */
  readonly sha256: string | null;
  readonly sha256State: Sha256State;
  readonly sha256RecordedAt: string | null;
  /** The file `vmgr add` copied it from (root only). */
  readonly addedFrom?: string;
  readonly problems: readonly string[];
}

export interface BootFileView {
  readonly name: string;
  readonly sizeBytes: number;
  /** Recorded by `vmgr add` with the image; null when not recorded. */
  readonly sha256: string | null;
  readonly problems: readonly string[];
  /** The kernel command line (cmdline only; its first line, bounded). */
  readonly text?: string;
}

export interface JobUseView {
  /** null: a VM vTorque did not start. */
  readonly jobId: string | null;
  /** Root only. */
  readonly owner?: string | null;
  readonly vms?: readonly { readonly name: string; readonly running: boolean }[];
  readonly recordedOnThisNode?: boolean;
  /** Whether it keeps `vmgr delete image` and `vmgr add --replace` from going ahead. */
  readonly blocking?: boolean;
}

/** One image as `vmgr show image NAME` shows it: the row, its boot files and who uses it now. */
export interface ImageDetail extends ImageView {
  readonly bootFiles: { readonly kernel: BootFileView | null; readonly initrd: BootFileView | null; readonly cmdline: BootFileView | null };
  /** What its VMs boot: its kernel and initrd (both present) or its disk. */
  readonly boots: 'kernel' | 'disk';
  readonly usedBy: { readonly known: boolean; readonly reason: string | null; readonly jobs: readonly JobUseView[] };
}

export interface DescribeOptions {
  /** Root sees where images were added from and who owns the jobs using them; users do not. */
  readonly root: boolean;
  /** qemu-img's path; default: looked up on PATH (null: not installed). */
  readonly qemuImg?: string | null;
  readonly timeoutMs?: number;
}

const CMDLINE_MAX = 4096;

function qemuImgOf(opts: DescribeOptions): string | null {
  return opts.qemuImg === undefined ? findExecutable('qemu-img') : opts.qemuImg;
}

/** Every pool image, in name order, each inspected (at most 4 qemu-img at a time). */
export async function describeImages(dir: string, opts: DescribeOptions): Promise<ImageView[]> {
  const qemuImg = qemuImgOf(opts);
  const limit = pLimit(4);
  return Promise.all(listPoolImages(dir).map((image) => limit(() => viewOf(dir, image, qemuImg, opts))));
}

async function viewOf(dir: string, image: PoolImage, qemuImg: string | null, opts: DescribeOptions): Promise<ImageView> {
  const path = join(dir, image.name);
  const facts = await inspectDisk(path, qemuImg, opts.timeoutMs);
  const st = lstatSync(path, { throwIfNoEntry: false });
  const problems = [...facts.problems];
  const read = readImageMeta(dir, image.name);
  let sha256: string | null = null;
  let state: Sha256State = 'not-recorded';
  let recordedAt: string | null = null;
  let from: string | null = null;
  if (read.state === 'unusable') {
    state = 'record-unusable';
    problems.push(read.problem);
  } else if (read.state === 'ok') {
    ({ sha256, recordedAt, source: from } = read.meta);
    state = st && changedSince(read.meta, st) ? 'changed-since-recorded' : 'recorded';
    if (state === 'changed-since-recorded') problems.push('changed since its sha256 was recorded (size or modification time differ): the recorded sha256 may not be its content\'s');
  }
  return {
    name: image.name,
    description: image.description,
    format: facts.format,
    virtualSizeBytes: facts.virtualSizeBytes,
    diskSizeBytes: facts.diskSizeBytes,
    fileSizeBytes: image.sizeBytes,
    modified: image.mtime.toISOString(),
    backingFile: facts.backing,
    sha256,
    sha256State: state,
    sha256RecordedAt: recordedAt,
    ...(opts.root && from !== null ? { addedFrom: from } : {}),
    problems,
  };
}

/**
 * One pool image with its boot files and its use on this node (`use`: from readPoolUse; null when
 * not asked). Refuses a name that is not a pool image, naming the images there are.
 */
export async function describeImage(dir: string, name: string, use: ImageUse | null, opts: DescribeOptions): Promise<ImageDetail> {
  const images = listPoolImages(dir);
  const image = images.find((i) => i.name === name);
  if (!image) {
    const what = IMAGE_NAME.test(name) ? `image ${name}: no such image in ${dir}` : `image name ${JSON.stringify(name)}: expected a file name ending .img, .qcow2 or .raw`;
    throw new VtorqueError('REQUEST_INVALID', `${what}; images: ${images.map((i) => i.name).join(', ') || '(none)'}`, { fault: 'job' });
  }
  const view = await viewOf(dir, image, qemuImgOf(opts), opts);
  const read = readImageMeta(dir, name);
  const recorded = read.state === 'ok' ? read.meta.boot : {};
  const kernel = bootFile(dir, name, 'kernel', recorded);
  const initrd = bootFile(dir, name, 'initrd', recorded);
  const cmdline = bootFile(dir, name, 'cmdline', recorded);
  const boots = kernel !== null && initrd !== null ? 'kernel' : 'disk';
  const problems = [...view.problems];
  if ((kernel === null) !== (initrd === null)) problems.push(`has ${kernel ? 'a kernel but no initrd' : 'an initrd but no kernel'} beside it: its VMs boot from the disk (direct kernel boot needs both)`);
  if (cmdline !== null && boots === 'disk') problems.push(`${cmdline.name} is not used: its VMs boot from the disk`);
  return { ...view, problems, bootFiles: { kernel, initrd, cmdline }, boots, usedBy: usedByView(use, opts.root) };
}

/**
 * A boot file beside the image, with what would make every start with it fail (doc/admin.md,
 * "Image pool": a regular file, root's, not group- or world-writable).
 */
function bootFile(dir: string, image: string, kind: keyof typeof BOOT_FILE_SUFFIXES, recorded: ImageMetaV1['boot']): BootFileView | null {
  const name = `${image}${BOOT_FILE_SUFFIXES[kind]}`;
  const path = join(dir, name);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return null;
  const problems = bootProblems(st);
  const view: BootFileView = { name, sizeBytes: st.size, sha256: recorded[kind] ?? null, problems };
  if (kind !== 'cmdline' || problems.length > 0) return view;
  try {
    const text = readFileNoFollow(path, CMDLINE_MAX).split('\n')[0] ?? '';
    return { ...view, text };
  } catch (err) {
    return { ...view, problems: [`cannot be read: ${(err as Error).message.split('\n')[0]}`] };
  }
}

function bootProblems(st: Stats): string[] {
  if (st.isSymbolicLink()) return ['is a symbolic link: every start with this image fails'];
  if (!st.isFile()) return ['is not a regular file: every start with this image fails'];
  if (st.uid !== 0) return [`is owned by uid ${st.uid}, not root: every start with this image fails`];
  if ((st.mode & 0o022) !== 0) return ['is writable by group or others: every start with this image fails'];
  return [];
}

function usedByView(use: ImageUse | null, root: boolean): ImageDetail['usedBy'] {
  if (use === null) return { known: false, reason: 'not asked', jobs: [] };
  const jobs: JobUseView[] = root
    ? use.users.map((u) => ({ jobId: u.jobId, owner: u.owner, vms: u.vms, recordedOnThisNode: u.recorded, blocking: u.blocking }))
    : [...new Map(use.users.map((u) => [u.jobId ?? `\0${u.vms.map((vm) => vm.name).join()}`, { jobId: u.jobId }])).values()];
  return { known: use.unknown === null, reason: use.unknown?.reason ?? null, jobs };
}

// ------------------------------------------------------------------------------------------------
// Text for people.

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → `1.5 KiB`; below 1 KiB in bytes. */
export function formatBytes(n: number | null): string {
  if (n === null) return '?';
  if (n < 1024) return `${n} B`;
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`;
}

function backingText(b: ImageView['backingFile']): string {
  if (b === null) return '-';
  return b.inPool ? `${b.name} (pool)` : `${b.name} (outside the pool)`;
}

function shaText(view: ImageView): string {
  if (view.sha256 === null) return view.sha256State === 'record-unusable' ? 'not recorded (record unusable)' : 'not recorded';
  return view.sha256State === 'changed-since-recorded' ? `${view.sha256} (file changed since)` : view.sha256;
}

/** A control character or a tab in a description or a name must not break the table. */
const clean = (s: string): string => s.replace(/[\0-\x1f\x7f]/g, ' ');

/** The table of `vmgr show images`, with each image's problems below it. */
export function formatImageTable(views: readonly ImageView[], dir: string): string {
  if (views.length === 0) return `no images in ${dir}\n`;
  const rows = [
    ['NAME', 'FORMAT', 'VIRTUAL', 'ON DISK', 'BACKING', 'SHA256', 'DESCRIPTION'],
    ...views.map((i) => [clean(i.name), i.format ?? '?', formatBytes(i.virtualSizeBytes), formatBytes(i.diskSizeBytes), clean(backingText(i.backingFile)), shaText(i), clean(i.description)]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  const lines = rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ').trimEnd());
  for (const i of views) for (const p of i.problems) lines.push(`note: ${clean(i.name)}: ${clean(p)}`);
  return `${lines.join('\n')}\n`;
}

/** The text of `vmgr show image NAME`. */
export function formatImageDetail(d: ImageDetail): string {
  const lines: [string, string][] = [
    ['name', d.name],
    ['description', d.description || '(none)'],
    ['format', d.format ?? '?'],
    ['virtual size', sizeLine(d.virtualSizeBytes)],
    ['on disk', sizeLine(d.diskSizeBytes)],
    ['file size', sizeLine(d.fileSizeBytes)],
    ['modified', d.modified],
    ['backing file', d.backingFile === null ? 'none' : `${d.backingFile.name} (${d.backingFile.inPool ? 'a pool image' : 'outside the pool'}; not followed)`],
    ['sha256', d.sha256 === null ? (d.sha256State === 'record-unusable' ? 'not recorded (its record is unusable, see below)' : 'not recorded (vmgr add records it when it copies an image)') : `${d.sha256} (recorded by vmgr add at ${d.sha256RecordedAt ?? '?'}${d.sha256State === 'changed-since-recorded' ? '; the file changed since' : ''})`],
  ];
  if (d.addedFrom !== undefined) lines.push(['added from', d.addedFrom]);
  for (const kind of ['kernel', 'initrd', 'cmdline'] as const) {
    const f = d.bootFiles[kind];
    if (f === null) {
      lines.push([kind, 'none']);
      continue;
    }
    const sha = f.sha256 === null ? 'sha256 not recorded' : `sha256 ${f.sha256}`;
    lines.push([kind, `${f.name} (${formatBytes(f.sizeBytes)}, ${sha})${f.text !== undefined ? `: ${JSON.stringify(f.text)}` : ''}`]);
    for (const p of f.problems) lines.push(['problem', `${f.name} ${p}`]);
  }
  lines.push(['boots', d.boots === 'kernel' ? 'its kernel and initrd (direct kernel boot)' : 'from its disk']);
  lines.push(['used by', usedByText(d)]);
  for (const p of d.problems) lines.push(['problem', p]);
  const width = Math.max(...lines.map(([k]) => k.length)) + 1;
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width)} ${clean(v)}`).join('\n') + '\n';
}

function sizeLine(n: number | null): string {
  return n === null ? '?' : n < 1024 ? `${n} B` : `${formatBytes(n)} (${n} bytes)`;
}

function usedByText(d: ImageDetail): string {
  const u = d.usedBy;
  const jobs = u.jobs.map((j) => jobText(j));
  if (!u.known) return `${jobs.length > 0 ? `${jobs.join('; ')}; ` : ''}unknown: ${u.reason ?? '?'}`;
  return jobs.length === 0 ? 'no job on this node' : jobs.join('; ');
}

function jobText(j: JobUseView): string {
  if (j.vms === undefined) return j.jobId === null ? 'a VM vTorque did not start' : `job ${j.jobId}`;
  const text = userText({ jobId: j.jobId, owner: j.owner ?? null, vms: j.vms, recorded: j.recordedOnThisNode ?? false, blocking: j.blocking ?? true });
  const owner = j.owner ? `, owner ${j.owner}` : '';
  const leftover = j.blocking === false ? ', a leftover: root no longer records its job' : '';
  return text.endsWith(')') ? `${text.slice(0, -1)}${owner}${leftover})` : `${text}${owner}${leftover}`;
}
