import type { Stats } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { lstatNoFollow, readFileNoFollow } from '../../core/fs/index.js';
import { IMAGE_NAME } from '../../core/request/index.js';
import { writeSmallFile } from './copy.js';

/**
 * What `vmgr add` records of each image it copies into the pool, beside it as `<image>.meta.json`
 * (root:root 0444, one line of JSON, replaced atomically; the description stays in `<image>.info`,
 * the original's convention). Version 1. An image without it (placed by `vtorque image build`, by
 * hand, or added before vmgr recorded checksums) has no recorded checksum; vmgr never hashes an
 * image just to show it.
 */
export const META_SUFFIX = '.meta.json';
const MAX_META_BYTES = 64 * 1024;

const sha256 = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'a sha256 in lower-case hex'));

export const ImageMetaV1Schema = v.strictObject({
  version: v.literal(1),
  /** The pool name it was recorded for (a renamed file does not inherit it). */
  image: v.pipe(v.string(), v.regex(IMAGE_NAME, 'a pool image name')),
  /** Of the bytes written into the pool, computed while copying them. */
  sha256,
  /** Size and modification time of the pool file right after the copy: a file changed since differs. */
  sizeBytes: v.pipe(v.number(), v.integer(), v.minValue(0)),
  mtimeMs: v.pipe(v.number(), v.minValue(0)),
  recordedAt: v.pipe(v.string(), v.isoTimestamp()),
  /** The file it was copied from, as given to vmgr add (shown to root only). */
  source: v.pipe(v.string(), v.maxLength(4096)),
  /** The boot files copied with it, by the same rule. */
  boot: v.strictObject({ kernel: v.optional(sha256), initrd: v.optional(sha256), cmdline: v.optional(sha256) }),
});
export type ImageMetaV1 = v.InferOutput<typeof ImageMetaV1Schema>;

export function metaPath(dir: string, name: string): string {
  return join(dir, `${name}${META_SUFFIX}`);
}

/** The record as read: none, a usable one, or why the file there cannot be used. */
export type MetaRead = { readonly state: 'none' } | { readonly state: 'ok'; readonly meta: ImageMetaV1 } | { readonly state: 'unusable'; readonly problem: string };

/**
 * Read `<image>.meta.json`: a regular file reached without a symlink through root-owned
 * directories, owned by root and writable by nobody else; anything else is not a record vmgr made.
 */
export function readImageMeta(dir: string, name: string): MetaRead {
  const path = metaPath(dir, name);
  try {
    const st = lstatNoFollow(path, { trusted: true });
    if (!st) return { state: 'none' };
    const why = untrustedWhy(st);
    if (why) return { state: 'unusable', problem: `${path} ${why}: ignored` };
    const parsed = v.safeParse(ImageMetaV1Schema, JSON.parse(readFileNoFollow(path, MAX_META_BYTES)) as unknown);
    if (!parsed.success) {
      const first = parsed.issues[0];
      return { state: 'unusable', problem: `${path} is not a version 1 record (at ${first ? (v.getDotPath(first) ?? '(top)') : '(top)'}: ${first?.message ?? 'invalid'}): ignored` };
    }
    if (parsed.output.image !== name) return { state: 'unusable', problem: `${path} records image ${parsed.output.image}, not ${name}: ignored` };
    return { state: 'ok', meta: parsed.output };
  } catch (err) {
    return { state: 'unusable', problem: `${path} cannot be read (${(err as Error).message.split('\n')[0]}): ignored` };
  }
}

function untrustedWhy(st: Stats): string | null {
  if (!st.isFile()) return 'is not a regular file';
  if (st.uid !== 0) return `is owned by uid ${st.uid}, not root`;
  if ((st.mode & 0o022) !== 0) return 'is writable by group or others';
  return null;
}

/** Has the pool file changed since its record was made (size or modification time differ)? */
export function changedSince(meta: ImageMetaV1, st: Pick<Stats, 'size' | 'mtimeMs'>): boolean {
  return meta.sizeBytes !== st.size || meta.mtimeMs !== st.mtimeMs;
}

/** Write the record (checked against the schema first), root:root 0444, atomically. */
export function writeImageMeta(dir: string, meta: ImageMetaV1): string {
  const checked = v.parse(ImageMetaV1Schema, meta);
  return writeSmallFile(metaPath(dir, checked.image), `${JSON.stringify(checked)}\n`);
}
