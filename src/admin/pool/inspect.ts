import { readSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import * as v from 'valibot';
import { UnsafePathError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { openNoFollow, type OpenedFile } from '../../core/fs/index.js';
import { inImagePool } from '../../core/pool/images.js';
import { IMAGE_NAME } from '../../core/request/index.js';
import { HEADER_BYTES, headerProblem, readHeaderFacts } from './header.js';

/** What qemu-img (and the header) say of one pool file; never more than that file is opened. */
export interface DiskFacts {
  readonly format: string | null;
  readonly virtualSizeBytes: number | null;
  /** Bytes allocated on disk. */
  readonly diskSizeBytes: number | null;
  /**
   * The backing file as the image names it, never opened: whether that name is a pool image
   * (directly in the pool, an image name) or lies outside it.
   */
  readonly backing: { readonly name: string; readonly format: string | null; readonly inPool: boolean } | null;
  readonly problems: readonly string[];
}

export const QEMU_IMG_TIMEOUT_MS = 30_000;

const InfoSchema = v.object({
  format: v.string(),
  'virtual-size': v.pipe(v.number(), v.integer(), v.minValue(0)),
  'actual-size': v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  'backing-filename': v.optional(v.string()),
  'backing-filename-format': v.optional(v.string()),
  encrypted: v.optional(v.boolean()),
});

/**
 * `qemu-img info -U --output=json -f <format> /proc/<pid>/fd/<n>` on exactly the pool file vmgr
 * opened (no symlink at any element, through root-owned directories), with the format from its
 * header (as the engine takes it, never qemu-img's probing) and force-share (-U), so the image of
 * a running VM can be read. qemu-img info opens no backing file; a qcow2 with an external data file
 * is not given to qemu-img at all (opening it would open that file). Bounded by `timeoutMs`.
 * Problems (unsafe path, qemu-img missing or failing, what the engine would refuse) are returned,
 * not thrown, so one bad image does not hide the others.
 */
export async function inspectDisk(path: string, qemuImg: string | null, timeoutMs = QEMU_IMG_TIMEOUT_MS): Promise<DiskFacts> {
  let file: OpenedFile;
  try {
    file = openNoFollow(path, { trusted: true });
  } catch (err) {
    // An unsafe path, or a file this user may not read (a pool image should be 0444).
    const why = err instanceof UnsafePathError ? err.message : `${path} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    return { format: null, virtualSizeBytes: null, diskSizeBytes: null, backing: null, problems: [why] };
  }
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    const head = readHeaderFacts(header.subarray(0, readSync(file.fd, header, 0, HEADER_BYTES, 0)));
    const allocated = file.stat.blocks * 512;
    const problems: string[] = [];
    const refused = headerProblem(head);
    if (refused) problems.push(`${refused}: the engine starts standalone images only, so every job with it fails`);
    if (head.dataFile || head.truncated) {
      return { format: head.format, virtualSizeBytes: head.virtualSize, diskSizeBytes: allocated, backing: null, problems: [...problems, 'not given to qemu-img (it would open another file)'] };
    }
    if (qemuImg === null) {
      return { format: head.format, virtualSizeBytes: head.virtualSize ?? (head.format === 'raw' ? file.stat.size : null), diskSizeBytes: allocated, backing: null, problems: [...problems, 'qemu-img is not installed (Debian package qemu-utils): format details from the header only'] };
    }
    const r = await run(qemuImg, ['info', '-U', '--output=json', '-f', head.format, file.procPath], { timeoutMs, reject: false });
    if (r.timedOut || r.exitCode !== 0) {
      const why = r.timedOut ? `gave no answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}` : `failed: ${(r.stderr.trim().split('\n')[0] ?? '').replaceAll(file.procPath, basename(path)).slice(0, 300)}`;
      return { format: head.format, virtualSizeBytes: head.virtualSize, diskSizeBytes: allocated, backing: null, problems: [...problems, `qemu-img info ${why}`] };
    }
    let info: v.InferOutput<typeof InfoSchema>;
    try {
      info = v.parse(InfoSchema, JSON.parse(r.stdout) as unknown);
    } catch {
      return { format: head.format, virtualSizeBytes: head.virtualSize, diskSizeBytes: allocated, backing: null, problems: [...problems, 'qemu-img info gave output vmgr cannot read'] };
    }
    if (info.encrypted && !head.encrypted) problems.push('is encrypted: the engine starts standalone unencrypted images only, so every job with it fails');
    const backingName = info['backing-filename'];
    const backing =
      backingName === undefined
        ? null
        : { name: backingName, format: info['backing-filename-format'] ?? null, inPool: backingInPool(dirname(path), backingName) };
    return { format: info.format, virtualSizeBytes: info['virtual-size'], diskSizeBytes: info['actual-size'] ?? allocated, backing, problems };
  } finally {
    file.close();
  }
}

/** A backing file name (relative ones are relative to the image's directory) that is a pool image. */
function backingInPool(poolDir: string, name: string): boolean {
  if (name.includes('://') || name.startsWith('json:')) return false;
  const resolved = normalize(isAbsolute(name) ? name : join(poolDir, name));
  return inImagePool(poolDir, resolved) && IMAGE_NAME.test(basename(resolved));
}
