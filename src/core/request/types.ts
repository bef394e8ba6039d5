import type * as v from 'valibot';
import type { VmRequestSchema } from './schema.js';

type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The job request (contract v1; src/core/request/schema.ts is its one definition). */
export type VmRequest = DeepReadonly<v.InferOutput<typeof VmRequestSchema>>;
/** A file the user named in the request; vsub reads it as the user and embeds it as data. */
export type EmbeddedFile = NonNullable<VmRequest['vm_prologue']>;
/** One entry per VM on a node, each a host CPU per vCPU, in vCPU order. */
export type PinningMap = Exclude<VmRequest['vcpu_pinning'], boolean>;
export type UserMetadata = NonNullable<VmRequest['metadata']>;

export const REQUEST_KEYS = [
  'img',
  'distro',
  'arch',
  'vcpus',
  'ram',
  'vms_per_node',
  'vcpu_pinning',
  'disk',
  'vm_prologue',
  'vm_epilogue',
  'fs_type',
  'metadata',
  'vrdma',
  'iocm',
  'iocm_min_cores',
  'iocm_max_cores',
  'unclot',
  'unclot_shmem',
] as const;
export type RequestKey = (typeof REQUEST_KEYS)[number];
