import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { IMAGE_NAME } from '../request/index.js';

export interface PoolImage {
  readonly name: string;
  readonly sizeBytes: number;
  readonly mtime: Date;
  readonly description: string;
}

/**
 * The authorized images: regular files (never symlinks) directly in VM_IMG_DIR with an image
 * extension. A missing or unreadable pool is an empty pool.
 */
export function listPoolImages(dir: string): PoolImage[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const images: PoolImage[] = [];
  for (const name of names.sort()) {
    if (!IMAGE_NAME.test(name)) continue;
    const st = lstatSync(join(dir, name), { throwIfNoEntry: false });
    if (!st || !st.isFile()) continue;
    images.push({ name, sizeBytes: st.size, mtime: st.mtime, description: readDescription(dir, name) });
  }
  return images;
}

/** `<image>.info` beside the image holds its one-line description (the original's convention). */
export function infoPath(dir: string, name: string): string {
  return join(dir, `${name}.info`);
}

function readDescription(dir: string, name: string): string {
  const path = infoPath(dir, name);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || !st.isFile() || st.size > 64 * 1024) return '';
  return readFileSync(path, 'utf8').split('\n')[0]?.trim() ?? '';
}

/**
 * The direct kernel boot files that travel with a pool image, beside it: `<image>.vmlinuz` and
 * `<image>.initrd` (both or neither), and optionally `<image>.cmdline` (its kernel command line).
 */
export const BOOT_FILE_SUFFIXES = { kernel: '.vmlinuz', initrd: '.initrd', cmdline: '.cmdline' } as const;

export function bootFilePaths(imagePath: string): { readonly kernel: string; readonly initrd: string; readonly cmdline: string } {
  return { kernel: `${imagePath}${BOOT_FILE_SUFFIXES.kernel}`, initrd: `${imagePath}${BOOT_FILE_SUFFIXES.initrd}`, cmdline: `${imagePath}${BOOT_FILE_SUFFIXES.cmdline}` };
}

/**
 * Where a request's `img` is: a pool name is the file of that name directly in VM_IMG_DIR; an
 * absolute path (a user's image, ALLOW_USER_IMAGES only) stays what it is. The one resolver every
 * layer uses, so the policy, the prepare that opens it and the boot files agree on what it is.
 */
export function poolImagePath(vmImgDir: string, img: string): string {
  return img.startsWith('/') ? img : join(vmImgDir, img);
}

/** Is `path` an entry directly in VM_IMG_DIR (the root-owned pool), by its elements? */
export function inImagePool(vmImgDir: string, path: string): boolean {
  return isAbsolute(path) && dirname(path) === vmImgDir.replace(/(.)\/+$/, '$1');
}
