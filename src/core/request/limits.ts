/** Limits shared by vsub's parsing and the root hooks' re-validation of a frozen request. */
export const LIMITS = {
  vcpus: { min: 1, max: 1024 },
  ramMiB: { min: 64, max: 16 * 1024 * 1024 },
  vmsPerNode: { min: 1, max: 256 },
  iocmCores: { min: 0, max: 4096 },
  shmemMiB: { min: 1, max: 1024 * 1024 },
  pathChars: 1024,
} as const;
