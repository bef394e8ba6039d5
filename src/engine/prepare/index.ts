export { prepareJob } from './prepare-job.js';
export { jobDirPath, removeJobFiles, type RemoveJobFilesOptions } from './remove-job-files.js';
export { buildGuestSpec, guestMounts, virtiofsShares, type VirtiofsShare } from './build-guest-spec.js';
export { validatePersistentDisk } from './persistent-disk.js';
export { RAMDISK_MARGIN_PER_VM_MIB, RAMDISK_SLACK_MIB, ramdiskPath, ramdiskSizeMiB } from './ramdisk.js';
export { resolveTools } from './tools.js';
export type { ImageFormat, LogFn, PersistentDisk, PrepareContext, PreparedJob, PreparedVm, PrepareTools } from './types.js';
export { ensureRootDir } from './spool.js';
export { inImagePool } from './image.js';
