import * as v from 'valibot';
import { DISTROS, FS_TYPES } from '../config/index.js';
import { LIMITS } from './limits.js';

const text = (max: number) => v.pipe(v.string(), v.maxLength(max), v.regex(/^[^\0]*$/));
const path = v.pipe(v.string(), v.maxLength(LIMITS.pathChars), v.regex(/^\/[^\0\r\n]*$/));
const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const embedded = v.nullable(v.strictObject({ path, content: text(4 * 1024 * 1024) }));

/**
 * The job request, version 1: everything a user may ask with `-vm`, normalised (defaults applied,
 * sizes in MiB), as vsub freezes it into the job script and the root hooks read it back from
 * Torque's copy. The one definition: VmRequest and its parts are this schema's output.
 */
export const VmRequestSchema = v.strictObject({
  version: v.literal(1),
  img: v.pipe(v.string(), v.maxLength(LIMITS.pathChars), v.regex(/^[^\0\r\n]+$/)),
  distro: v.picklist(DISTROS),
  arch: v.literal('x86_64'),
  vcpus: int(LIMITS.vcpus.min, LIMITS.vcpus.max),
  ram: int(LIMITS.ramMiB.min, LIMITS.ramMiB.max),
  vms_per_node: int(LIMITS.vmsPerNode.min, LIMITS.vmsPerNode.max),
  vcpu_pinning: v.union([
    v.boolean(),
    v.strictObject({ path, cpus: v.pipe(v.array(v.pipe(v.array(int(0, 65535)), v.maxLength(1024))), v.maxLength(256)) }),
  ]),
  disk: v.nullable(path),
  vm_prologue: embedded,
  vm_epilogue: embedded,
  fs_type: v.picklist(FS_TYPES),
  metadata: v.nullable(v.strictObject({ path, data: v.record(v.string(), v.unknown()) })),
  vrdma: v.boolean(),
  iocm: v.boolean(),
  iocm_min_cores: int(LIMITS.iocmCores.min, LIMITS.iocmCores.max),
  iocm_max_cores: int(LIMITS.iocmCores.min, LIMITS.iocmCores.max),
  unclot: v.boolean(),
  unclot_shmem: int(LIMITS.shmemMiB.min, LIMITS.shmemMiB.max),
  debug: v.boolean(),
  trace: v.boolean(),
});
