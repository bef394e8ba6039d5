import { fstatSync, readSync, type Stats } from 'node:fs';
import { isAbsolute } from 'node:path';
import { type ErrorCode, type Fault, UnsafePathError, VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { openNoFollow, ROOT_OWNER, setOwnerMode, writeFileExclusive, type OpenedFile, type Owner } from '../../core/fs/index.js';
import { need, TIMEOUT_MS } from './tools.js';
import type { ImageFormat, PrepareTools } from './types.js';

export interface ImageInfo {
  readonly format: ImageFormat;
  readonly virtualSize: number;
  /** Bytes allocated on disk (what a sparse copy occupies). */
  readonly actualSize: number;
}

export interface OpenedImage {
  readonly file: OpenedFile;
  readonly info: ImageInfo;
}

export interface OpenImageOptions {
  /** Names the image in errors ('base image', 'disk'). */
  readonly label: string;
  /** Error code for a refused image. */
  readonly code: ErrorCode;
  /** Ancestors must be root-owned and writable by nobody else (pool images); false for user files. */
  readonly trusted: boolean;
  /** Runs on the opened file's stat before any program reads it (ownership rules). */
  readonly check?: (file: OpenedFile) => void;
  /**
   * Whose failure a refusal is. Default: the node's for a trusted file (the admin's pool), the
   * job's for a user's file (and for qemu-img failing on it).
   */
  readonly fault?: Fault;
}

const QCOW2_MAGIC = 0x514649fb;
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;
const HEADER_BYTES = 104;
const MIB = 1024 * 1024;

/**
 * The format from the header, never from qemu-img's probing: the qcow2 magic means qcow2,
 * anything else raw. A qcow2 that names another file (backing file, external data file) or is
 * encrypted is refused here, before any program could open what it names as root.
 */
export function sniffImage(header: Buffer, refuse: (why: string) => never): ImageFormat {
  if (header.length < 4 || header.readUInt32BE(0) !== QCOW2_MAGIC) return 'raw';
  if (header.length < 72) refuse('has a truncated qcow2 header');
  if (header.readBigUInt64BE(8) !== 0n) refuse('has a backing file; only standalone images are accepted');
  if (header.readUInt32BE(32) !== 0) refuse('is an encrypted qcow2');
  if (header.readUInt32BE(4) >= 3 && header.length >= 80 && (header.readBigUInt64BE(72) & QCOW2_INCOMPAT_DATA_FILE) !== 0n) {
    refuse('has an external data file');
  }
  return 'qcow2';
}

export { inImagePool } from '../../core/pool/images.js';

/** A refusal naming the image: `<label> <path>: <why>`, with the given code and fault. */
function refusal(label: string, path: string, code: ErrorCode, fault: Fault): (why: string, cause?: unknown) => never {
  return (why, cause) => {
    throw new VtorqueError(code, `${label} ${path}: ${why}`, { fault, ...(cause === undefined ? {} : { cause }) });
  };
}

/**
 * openNoFollow, with its refusals (a symlink at any element, not a regular file: a FIFO or device
 * is never opened) and the caller's `check` turned into `refuse`, so they carry its code and fault.
 */
function openOrRefuse(path: string, trusted: boolean, refuse: (why: string, cause?: unknown) => never, check?: (file: OpenedFile) => void): OpenedFile {
  let file: OpenedFile;
  try {
    file = openNoFollow(path, { trusted });
  } catch (err) {
    if (err instanceof UnsafePathError) refuse(err.message, err);
    throw err;
  }
  try {
    check?.(file);
    return file;
  } catch (err) {
    file.close();
    if (err instanceof UnsafePathError) refuse(err.message, err);
    throw err;
  }
}

function readHeader(file: OpenedFile): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  const n = readSync(file.fd, header, 0, header.length, 0);
  return header.subarray(0, n);
}

/**
 * Open an image with no symlink in its path, sniff its format, and ask `qemu-img info` with that
 * format given explicitly (no probing) about exactly the opened file, through /proc/<pid>/fd.
 * The caller closes `file`.
 */
export async function openImage(path: string, opts: OpenImageOptions, tools: PrepareTools): Promise<OpenedImage> {
  const fault = opts.fault ?? (opts.trusted ? 'node' : 'job');
  const refuse = refusal(opts.label, path, opts.code, fault);
  if (!isAbsolute(path)) refuse('is not an absolute path');
  const file = openOrRefuse(path, opts.trusted, refuse, opts.check);
  try {
    const format = sniffImage(readHeader(file), refuse);
    const r = await run(need(tools, 'qemuImg'), ['info', '--output=json', '-U', '-f', format, file.procPath], { timeoutMs: TIMEOUT_MS.short, fault });
    const info = JSON.parse(r.stdout) as Record<string, unknown>;
    const specific = (info['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
    if (info.format !== format) refuse(`qemu-img reads it as ${String(info.format)}, not ${format}`);
    if (info['backing-filename'] !== undefined || info['full-backing-filename'] !== undefined) refuse('has a backing file; only standalone images are accepted');
    if (specific['data-file'] !== undefined) refuse('has an external data file');
    const virtualSize = Number(info['virtual-size']);
    const actualSize = Number(info['actual-size'] ?? file.stat.blocks * 512);
    if (!Number.isSafeInteger(virtualSize) || virtualSize <= 0) refuse('has no usable virtual size');
    return { file, info: { format, virtualSize, actualSize: Number.isSafeInteger(actualSize) ? actualSize : file.stat.size } };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** A user's image (ALLOW_USER_IMAGES) as it was checked: its descriptor, never its path again. */
export interface UserImage {
  /** For messages only. */
  readonly path: string;
  readonly file: OpenedFile;
  /** From the header at the check; the copy is checked again (copyUserImage). */
  readonly format: ImageFormat;
  /** Bytes allocated on disk at the check (what a sparse copy occupies). */
  readonly allocated: number;
}

const userRefusal = (path: string): ((why: string, cause?: unknown) => never) => refusal('base image', path, 'REQUEST_INVALID', 'job');

/**
 * Open a user's image (ALLOW_USER_IMAGES, a path outside the pool): no symlink at any element, a
 * regular file (lstat first, then O_NOFOLLOW|O_NONBLOCK: a FIFO or device is refused and never
 * blocks), owned by the job owner (root must not read for him a file he may not own, such as
 * another user's or root's), at most `maxBytes` allocated, standalone by its header. No program
 * reads it: qemu-img and libvirt only ever get the root-owned copy (copyUserImage). The caller
 * closes `file`. Every refusal is the job's.
 */
export function openUserImage(path: string, owner: { readonly uid: number }, maxBytes: number): UserImage {
  const refuse = userRefusal(path);
  if (!isAbsolute(path)) refuse('is not an absolute path');
  const file = openOrRefuse(path, false, refuse);
  try {
    if (file.stat.uid !== owner.uid) refuse(`is owned by uid ${file.stat.uid}, not by the job owner (uid ${owner.uid}); only the owner's own image file is used`);
    const allocated = file.stat.blocks * 512;
    if (allocated > maxBytes) refuse(`takes ${Math.ceil(allocated / MIB)} MiB on disk, more than USER_IMAGE_MAX_MB (${Math.floor(maxBytes / MIB)})`);
    return { path, file, format: sniffImage(readHeader(file), refuse), allocated };
  } catch (err) {
    file.close();
    throw err;
  }
}

/**
 * Copy an opened image from its descriptor (never by its path) to `dest` in a root-owned
 * directory: `dest` is created empty, root 0600, first (nobody else can open it while it fills),
 * then `cp --sparse=always --reflink=auto` through /proc/<pid>/fd (a reflink where the file
 * system allows, else a sparse copy). The caller sets its final owner and mode.
 */
export async function copyImageFd(file: OpenedFile, dest: string, tools: PrepareTools, fault: Fault = 'node'): Promise<void> {
  writeFileExclusive(dest, '', 0o600, ROOT_OWNER);
  await run(need(tools, 'cp'), ['--sparse=always', '--reflink=auto', '--', file.procPath, dest], { timeoutMs: TIMEOUT_MS.copy, fault });
}

/** A write or truncate since `before` (st_blocks is left out: file systems trim preallocation on their own). */
const changed = (before: Stats, now: Stats): boolean => now.size !== before.size || now.mtimeMs !== before.mtimeMs;

/**
 * Copy a checked user image into `dest` (root-owned directory, see copyImageFd) and check the copy
 * as what it now is, root-owned and out of the user's reach: its header again, `qemu-img info`
 * on it, the same size and format as the checked file, at most `maxBytes` allocated. A source
 * that changed while it was copied is refused (the job's fault); cp's time is bounded by its
 * timeout. Returns the copy's info; only the copy is ever named to qemu-img or libvirt.
 */
export async function copyUserImage(src: UserImage, dest: string, maxBytes: number, tools: PrepareTools): Promise<ImageInfo> {
  const refuse = userRefusal(src.path);
  const before = src.file.stat;
  const stillSame = (): void => {
    if (changed(before, fstatSync(src.file.fd))) refuse('changed while it was being copied; submit the job again once the image is complete');
  };
  try {
    await copyImageFd(src.file, dest, tools, 'job');
  } catch (err) {
    stillSame();
    throw err;
  }
  stillSame();
  const copy = await openImage(dest, { label: `base image ${src.path}, copied to`, code: 'REQUEST_INVALID', trusted: true, fault: 'job' }, tools);
  try {
    if (copy.info.format !== src.format || copy.file.stat.size !== before.size) refuse('changed while it was being copied; submit the job again once the image is complete');
    if (copy.file.stat.blocks * 512 > maxBytes) refuse(`took more than USER_IMAGE_MAX_MB (${Math.floor(maxBytes / MIB)}) MiB on disk once copied`);
    return copy.info;
  } finally {
    copy.file.close();
  }
}

/**
 * A qcow2 overlay on `backing` (absolute: a relative one resolves against the overlay's
 * directory), 0600: root's, or `qemu`'s when qemu runs as the job owner or the job's own uid
 * (QEMU_USER owner or job-uid, where libvirt chowns nothing and qemu must write it itself).
 * `backing` is a root-owned file: a pool image, or a copy prepare made (never a user's path).
 */
export async function createOverlay(tools: PrepareTools, backing: string, format: ImageFormat, overlay: string, qemu: Owner | null): Promise<void> {
  if (!isAbsolute(backing)) throw new VtorqueError('INTERNAL', `overlay backing file ${backing} is not absolute`, { fault: 'node' });
  await run(need(tools, 'qemuImg'), ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', format, overlay], { timeoutMs: TIMEOUT_MS.short });
  setOwnerMode(overlay, qemu ?? ROOT_OWNER, 0o600);
}
