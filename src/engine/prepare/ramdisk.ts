import { join } from 'node:path';
import type { SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { mkdirPrivate, mountsAt } from '../../core/fs/index.js';
import { jobDirName } from '../naming.js';
import { ensureRootDir } from './spool.js';
import { need, TIMEOUT_MS } from './tools.js';
import type { ImageFormat, PrepareTools } from './types.js';

/** Room each VM's overlay may grow to inside the job's tmpfs. */
export const RAMDISK_MARGIN_PER_VM_MIB = 512;
/** Slack for the base copy's metadata and rounding. */
export const RAMDISK_SLACK_MIB = 64;
const MIB = 1024 * 1024;

export function ramdiskPath(config: SiteConfig, jobId: string): string {
  return join(config.RAMDISK_DIR, jobDirName(jobId));
}

/** tmpfs size: the base copy (its allocated bytes; the copy is sparse) plus a margin per VM. */
export function ramdiskSizeMiB(baseActualBytes: number, vms: number): number {
  return Math.ceil(baseActualBytes / MIB) + RAMDISK_SLACK_MIB + vms * RAMDISK_MARGIN_PER_VM_MIB;
}

/**
 * Mount a size-limited tmpfs (never ramfs, which has no limit) at `dir`, root 0711, with room
 * for the base copy (`baseActualBytes`, its allocated size) and the overlays. Returns where the
 * base copy goes; the caller copies it in once, from the already opened and checked file.
 */
export async function setUpRamdisk(dir: string, config: SiteConfig, base: { format: ImageFormat; actualSize: number }, vms: number, tools: PrepareTools): Promise<string> {
  ensureRootDir(config.RAMDISK_DIR, 'RAMDISK_DIR');
  mkdirPrivate(dir, 0o711);
  if (mountsAt(dir).length > 0) throw new VtorqueError('INTERNAL', `${dir} is already a mount point`, { fault: 'node' });
  const size = ramdiskSizeMiB(base.actualSize, vms);
  await run(need(tools, 'mount'), ['-t', 'tmpfs', '-o', `size=${size}m,mode=0711,uid=0,gid=0,nosuid,nodev,noexec`, 'tmpfs', dir], { timeoutMs: TIMEOUT_MS.short });
  const top = mountsAt(dir).at(-1);
  if (top?.fsType !== 'tmpfs') throw new VtorqueError('INTERNAL', `mounting a tmpfs at ${dir} left ${top ? top.fsType : 'nothing'} there`, { fault: 'node' });
  return baseCopyPath(dir, base.format);
}

/** Where a job keeps its copy of the base image in `dir` (its tmpfs, or its job dir for a user's image). */
export function baseCopyPath(dir: string, format: ImageFormat): string {
  return join(dir, `base.${format === 'qcow2' ? 'qcow2' : 'img'}`);
}

/** Unmount every tmpfs stacked at `dir` (exact path per /proc/self/mountinfo); how many were. */
export async function unmountRamdisk(dir: string, tools: PrepareTools): Promise<number> {
  let count = 0;
  for (; mountsAt(dir).length > 0; count++) {
    if (count >= 8) throw new VtorqueError('INTERNAL', `${dir} is still mounted after ${count} unmounts`, { fault: 'node' });
    await run(need(tools, 'umount'), [dir], { timeoutMs: TIMEOUT_MS.short });
  }
  return count;
}
