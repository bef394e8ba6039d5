import { existsSync, lstatSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { customiseRootfs } from './customise-rootfs.js';
import { IMAGE_KERNEL_CMDLINE, imageArtifacts, imageInputs, inputsHash, TUNED_KERNEL_CMDLINE, type ImageArtifacts, type ImageInputs, type ImageProfile } from './inputs.js';
import { convertToQcow2, copyOut, debootstrap, ensureDir, findKernel, makeFilesystem, removeWorkDir, updateInitramfs } from './steps.js';
import { requireBuildTools } from './tools.js';

export interface BuildImageOptions {
  /** Where the image, kernel, initrd and inputs hash are written. */
  readonly outDir: string;
  /** Keeps downloaded .debs (debootstrap --cache-dir) so a rebuild downloads less. */
  readonly cacheDir?: string;
  readonly log?: (line: string) => void;
  /** Rebuild even when the outputs match the inputs. */
  readonly force?: boolean;
  /** `tuned` (default) or `plain` (the pre-issue-12 image, for the boot bench). */
  readonly profile?: ImageProfile;
}

export interface BuildImageResult {
  readonly artifacts: ImageArtifacts;
  /** True when the existing outputs matched the inputs and nothing was built. */
  readonly cached: boolean;
  readonly inputsHash: string;
  readonly kernelVersion: string | null;
  readonly durationMs: number;
  /** Milliseconds per step (debootstrap, customise, kernel, mkfs, cleanup, qcow2). */
  readonly timings: Readonly<Record<string, number>>;
}

/**
 * Build the Debian 12 guest image (debootstrap minbase + cloud packages, customised, ext4 on the
 * whole disk, qcow2) with its kernel and initrd for direct kernel boot. Cached: when all outputs
 * exist and `<image>.inputs.sha256` matches the current inputs, nothing is done. Outputs are
 * built in a work dir inside outDir and renamed into place; the hash file is written last, so an
 * interrupted build is never taken for a cached one.
 */
export async function buildImage(opts: BuildImageOptions): Promise<BuildImageResult> {
  const started = performance.now();
  const log = opts.log ?? (() => undefined);
  const outDir = resolve(opts.outDir);
  const artifacts = imageArtifacts(outDir);
  const profile = opts.profile ?? 'tuned';
  const inputs = imageInputs(profile);
  const hash = inputsHash(inputs);
  const elapsed = (): number => Math.round(performance.now() - started);
  if (!opts.force && isCurrent(artifacts, hash)) {
    log(`image up to date, nothing to do: ${artifacts.qcow2} (inputs ${hash.slice(0, 12)})`);
    return { artifacts, cached: true, inputsHash: hash, kernelVersion: null, durationMs: elapsed(), timings: {} };
  }
  requireBuildTools();
  ensureDir(outDir);
  const debCache = opts.cacheDir === undefined ? null : resolve(opts.cacheDir, 'debs');
  if (debCache !== null) ensureDir(debCache);
  rmSync(artifacts.inputsSha256, { force: true }); // from here on the old outputs are not "current"
  const work = mkdtempSync(join(outDir, '.build-'));
  try {
    const built = await buildInWorkDir(work, artifacts, inputs, debCache, log);
    writeFileSync(`${artifacts.inputsSha256}.tmp`, `${hash}\n`, { mode: 0o644 });
    renameSync(`${artifacts.inputsSha256}.tmp`, artifacts.inputsSha256);
    log(`image built in ${(elapsed() / 1000).toFixed(1)} s: ${artifacts.qcow2} (${mib(artifacts.qcow2)} MiB, kernel ${built.kernelVersion})`);
    return { artifacts, cached: false, inputsHash: hash, kernelVersion: built.kernelVersion, durationMs: elapsed(), timings: built.timings };
  } finally {
    await removeWorkDir(work);
  }
}

/** Every build step inside `work`; the finished qcow2, kernel and initrd are renamed into place. */
async function buildInWorkDir(
  work: string,
  artifacts: ImageArtifacts,
  inputs: ImageInputs,
  debCache: string | null,
  log: (line: string) => void,
): Promise<{ kernelVersion: string; timings: Record<string, number> }> {
  const timings: Record<string, number> = {};
  const step = async <T>(name: string, what: string, fn: () => Promise<T> | T): Promise<T> => {
    log(`${what}…`);
    const t = performance.now();
    const value = await fn();
    timings[name] = Math.round(performance.now() - t);
    log(`${what}: done in ${(timings[name] / 1000).toFixed(1)} s`);
    return value;
  };
  const rootfs = join(work, 'rootfs');
  const raw = join(work, 'disk.raw');
  await step('debootstrap', `debootstrap ${inputs.suite} (${inputs.packages.length} extra packages)`, () => debootstrap(inputs, rootfs, debCache));
  const report = await step('customise', `customising the rootfs (${inputs.profile})`, () => customiseRootfs(rootfs, inputs.profile));
  log(`removed ${report.hostKeysRemoved} ssh host key file(s) and ${report.aptFilesRemoved} apt cache/list entries`);
  if (inputs.profile === 'tuned') await step('initramfs', 'rebuilding the initramfs (virtio only, LZ4)', () => updateInitramfs(rootfs));
  const kernel = await step('kernel', 'copying kernel and initrd', () => {
    const k = findKernel(rootfs);
    copyOut(k.vmlinuz, join(work, 'vmlinuz'));
    copyOut(k.initrd, join(work, 'initrd'));
    return k;
  });
  await step('mkfs', `mkfs.ext4 ${inputs.size}`, () => makeFilesystem(rootfs, raw));
  await step('cleanup', 'removing the rootfs', () => rmSync(rootfs, { recursive: true, force: true }));
  await step('qcow2', 'qemu-img convert to qcow2', () => convertToQcow2(raw, join(work, 'image.qcow2')));
  renameSync(join(work, 'image.qcow2'), artifacts.qcow2);
  renameSync(join(work, 'vmlinuz'), artifacts.vmlinuz);
  renameSync(join(work, 'initrd'), artifacts.initrd);
  writeFileSync(artifacts.cmdline, `${inputs.profile === 'tuned' ? TUNED_KERNEL_CMDLINE : IMAGE_KERNEL_CMDLINE}\n`, { mode: 0o644 });
  return { kernelVersion: kernel.version, timings };
}

/** All outputs are regular files and the recorded inputs hash equals `hash`. */
export function isCurrent(artifacts: ImageArtifacts, hash: string): boolean {
  for (const file of [artifacts.qcow2, artifacts.vmlinuz, artifacts.initrd, artifacts.cmdline, artifacts.inputsSha256]) {
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) return false;
  }
  return existsSync(artifacts.inputsSha256) && readFileSync(artifacts.inputsSha256, 'utf8').trim() === hash;
}

function mib(file: string): number {
  return Math.round(statSync(file).size / 2 ** 20);
}
