import { readSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { type ErrorCode, VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { openNoFollow, ROOT_OWNER, setOwnerMode, type OpenedFile, type Owner } from '../../core/fs/index.js';
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
}

const QCOW2_MAGIC = 0x514649fb;
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;

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

/**
 * Open an image with no symlink in its path, sniff its format, and ask `qemu-img info` with that
 * format given explicitly (no probing) about exactly the opened file, through /proc/<pid>/fd.
 * The caller closes `file`.
 */
export async function openImage(path: string, opts: OpenImageOptions, tools: PrepareTools): Promise<OpenedImage> {
  const refuse = (why: string): never => {
    throw new VtorqueError(opts.code, `${opts.label} ${path}: ${why}`);
  };
  if (!isAbsolute(path)) refuse('is not an absolute path');
  const file = openNoFollow(path, { trusted: opts.trusted });
  try {
    opts.check?.(file);
    const header = Buffer.alloc(104);
    const n = readSync(file.fd, header, 0, header.length, 0);
    const format = sniffImage(header.subarray(0, n), refuse);
    const r = await run(need(tools, 'qemuImg'), ['info', '--output=json', '-U', '-f', format, file.procPath], { timeoutMs: TIMEOUT_MS.short });
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

/**
 * A qcow2 overlay on `backing` (absolute: a relative one resolves against the overlay's
 * directory), 0600: root's, or `qemu`'s when qemu runs as the job owner or the job's own uid
 * (QEMU_USER owner or job-uid, where libvirt chowns nothing and qemu must write it itself).
 */
export async function createOverlay(tools: PrepareTools, backing: string, format: ImageFormat, overlay: string, qemu: Owner | null): Promise<void> {
  if (!isAbsolute(backing)) throw new VtorqueError('INTERNAL', `overlay backing file ${backing} is not absolute`);
  await run(need(tools, 'qemuImg'), ['create', '-q', '-f', 'qcow2', '-b', backing, '-F', format, overlay], { timeoutMs: TIMEOUT_MS.short });
  setOwnerMode(overlay, qemu ?? ROOT_OWNER, 0o600);
}
