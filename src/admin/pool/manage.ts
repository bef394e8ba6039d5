import { lstatSync, mkdirSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import { BOOT_FILE_SUFFIXES, infoPath, listPoolImages } from '../../core/pool/images.js';
import { IMAGE_NAME } from '../../core/request/index.js';
import { commitStaged, dropStaged, stageCopy, syncDir, writeSmallFile, type StagedFile } from './copy.js';
import { headerProblem, readHeaderFacts } from './header.js';
import { metaPath, writeImageMeta } from './meta.js';
import { refuseWhileUsed, type ImageUse } from './usage.js';

/** The write commands change the root-owned pool: root only, refused in one line otherwise. */
export function requireRoot(action: string, euid: number | undefined = process.geteuid?.()): void {
  if (euid !== 0) throw new VtorqueError('PERMISSION', `vmgr ${action} changes the root-owned image pool: run it as root`, { fault: 'job' });
}

function poolEntry(dir: string, name: string): string {
  if (!IMAGE_NAME.test(name)) throw new VtorqueError('REQUEST_INVALID', `image name ${JSON.stringify(name)}: expected a file name ending .img, .qcow2 or .raw`, { fault: 'job' });
  return join(dir, name);
}

/**
 * Direct kernel boot files travel with their image: `<image>.vmlinuz` and `<image>.initrd` (both or
 * neither), and `<image>.cmdline` (the image's kernel command line; optional, the engine has a default).
 */
export const BOOT_SUFFIXES = [BOOT_FILE_SUFFIXES.kernel, BOOT_FILE_SUFFIXES.initrd, BOOT_FILE_SUFFIXES.cmdline] as const;
const BOOT_KIND = { [BOOT_FILE_SUFFIXES.kernel]: 'kernel', [BOOT_FILE_SUFFIXES.initrd]: 'initrd', [BOOT_FILE_SUFFIXES.cmdline]: 'cmdline' } as const;

export interface AddOptions {
  /**
   * Replace an image of that name: its use on this node now (readPoolUse, useOf), refused while a
   * job uses it. Without it an existing name is refused.
   */
  readonly replace?: ImageUse;
}

/**
 * Copy an image into the pool as root:root 0444, with its kernel, initrd and kernel command line
 * when its kernel and initrd sit beside it. Each file is copied under a temporary name in the pool
 * (hashed while copied, fsynced), then renamed into place; boot files the new image does not bring
 * are removed (they would boot it with another image's kernel). The image's sha256, computed while
 * copying, is recorded in `<image>.meta.json`, its description in `<image>.info` (an omitted
 * description keeps a replaced image's). Refused: a name that is not a pool image name, a source
 * that is not a regular file (a symlink, a directory, a FIFO, a device), an image the engine would
 * refuse at every start (a backing file, an external data file, encryption), an existing name
 * unless `replace` says it is free. Returns the paths of the image and boot files written.
 */
export function addImage(dir: string, source: string, description: string | undefined, name = basename(source), options: AddOptions = {}): string[] {
  requireRoot('add');
  const target = poolEntry(dir, name);
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (existing) {
    if (options.replace === undefined) throw new VtorqueError('REQUEST_INVALID', `image ${name} is already in ${dir}: expected a new name (--name NAME), or --replace to replace it`, { fault: 'job' });
    if (existing.isDirectory()) throw new VtorqueError('REQUEST_INVALID', `image ${name} in ${dir} is a directory: --replace replaces image files only`, { fault: 'job' });
    if (options.replace.image !== name) throw new VtorqueError('INTERNAL', `image ${name}: the use given to replace it is image ${options.replace.image}'s`, { fault: 'node' });
    refuseWhileUsed(options.replace, 'replace');
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const keptDescription = description === undefined && existing ? readKeptDescription(dir, name) : undefined;
  const staged: StagedFile[] = [];
  try {
    staged.push(stageCopy(source, target, 'image source', (head) => refuseUnbootable(source, head)));
    const boot = BOOT_SUFFIXES.filter((suffix) => lstatSync(`${source}${suffix}`, { throwIfNoEntry: false })?.isFile());
    const withBoot = boot.includes(BOOT_FILE_SUFFIXES.kernel) && boot.includes(BOOT_FILE_SUFFIXES.initrd);
    if (withBoot) for (const suffix of boot) staged.push(stageCopy(`${source}${suffix}`, `${target}${suffix}`, `boot file`));
  } catch (err) {
    dropStaged(staged);
    throw err;
  }
  const [image, ...bootFiles] = staged as [StagedFile, ...StagedFile[]];
  // Into place: the old record first (it does not describe the new bytes), boot files not brought
  // along, the boot files, the image last; then its record and description.
  rmSync(metaPath(dir, name), { force: true });
  for (const suffix of BOOT_SUFFIXES) if (!bootFiles.some((f) => f.target === `${target}${suffix}`)) rmSync(`${target}${suffix}`, { force: true });
  for (const f of bootFiles) commitStaged(f);
  commitStaged(image);
  syncDir(dir);
  const st = statSync(target);
  const boot: Partial<Record<'kernel' | 'initrd' | 'cmdline', string>> = {};
  for (const f of bootFiles) boot[BOOT_KIND[f.target.slice(target.length) as keyof typeof BOOT_KIND]] = f.sha256;
  writeImageMeta(dir, { version: 1, image: name, sha256: image.sha256, sizeBytes: st.size, mtimeMs: st.mtimeMs, recordedAt: new Date().toISOString(), source, boot });
  writeInfo(dir, name, keptDescription ?? description ?? '');
  syncDir(dir);
  return staged.map((f) => f.target);
}

/** What the engine would refuse at every start, refused before it is in the pool. */
function refuseUnbootable(source: string, head: Buffer): void {
  const problem = headerProblem(readHeaderFacts(head));
  if (problem === null) return;
  throw new VtorqueError('REQUEST_INVALID', `image source ${source} ${problem}: expected a standalone image (the engine starts no other); make one with: qemu-img convert -O qcow2 ${source} NEW.qcow2`, { fault: 'job' });
}

function readKeptDescription(dir: string, name: string): string | undefined {
  const st = lstatSync(infoPath(dir, name), { throwIfNoEntry: false });
  if (!st?.isFile() || st.uid !== 0 || st.size > 64 * 1024) return undefined;
  return readFileSync(infoPath(dir, name), 'utf8').split('\n')[0]?.trim();
}

export function updateImage(dir: string, name: string, description: string): void {
  requireRoot('update');
  if (!lstatSync(poolEntry(dir, name), { throwIfNoEntry: false })?.isFile()) throw new VtorqueError('REQUEST_INVALID', `image ${name}: no such image in ${dir}; images: ${imageNames(dir)}`, { fault: 'job' });
  writeInfo(dir, name, description);
}

/**
 * Remove an image with its record, description and boot files. `use`: its use on this node now
 * (readPoolUse, useOf); refused while a job uses it, and when not given.
 */
export function deleteImage(dir: string, name: string, use?: ImageUse): void {
  requireRoot('delete');
  const target = poolEntry(dir, name);
  if (!lstatSync(target, { throwIfNoEntry: false })) throw new VtorqueError('REQUEST_INVALID', `image ${name}: no such image in ${dir}; images: ${imageNames(dir)}`, { fault: 'job' });
  if (use?.image !== name) throw new VtorqueError('INTERNAL', `image ${name}: deleting it needs its use on this node (readPoolUse), and none was given`, { fault: 'node' });
  refuseWhileUsed(use, 'delete');
  unlinkSync(target);
  rmSync(metaPath(dir, name), { force: true });
  rmSync(infoPath(dir, name), { force: true });
  for (const suffix of BOOT_SUFFIXES) rmSync(`${target}${suffix}`, { force: true });
}

function imageNames(dir: string): string {
  return listPoolImages(dir).map((i) => i.name).join(', ') || '(none)';
}

function writeInfo(dir: string, name: string, description: string): void {
  const line = description.replace(/[\0-\x1f]/g, ' ').slice(0, 500);
  writeSmallFile(infoPath(dir, name), `${line}\n`);
}
