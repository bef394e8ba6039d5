import type { Distro, FsType } from '../config/index.js';

/** A file the user named in the request; vsub reads it as the user and embeds it as data. */
export interface EmbeddedFile {
  readonly path: string;
  readonly content: string;
}

export interface PinningMap {
  readonly path: string;
  /** One entry per VM on a node, each a host CPU per vCPU, in vCPU order. */
  readonly cpus: readonly (readonly number[])[];
}

export interface UserMetadata {
  readonly path: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * The job request, version 1: everything a user may ask with `-vm`, normalised (defaults applied,
 * sizes in MiB). vsub freezes it into the job script; the root hooks re-validate it from Torque's copy.
 */
export interface VmRequest {
  readonly version: 1;
  readonly img: string;
  readonly distro: Distro;
  readonly arch: 'x86_64';
  readonly vcpus: number;
  readonly ram: number;
  readonly vms_per_node: number;
  readonly vcpu_pinning: boolean | PinningMap;
  readonly disk: string | null;
  readonly vm_prologue: EmbeddedFile | null;
  readonly vm_epilogue: EmbeddedFile | null;
  readonly fs_type: FsType;
  readonly metadata: UserMetadata | null;
  readonly vrdma: boolean;
  readonly iocm: boolean;
  readonly iocm_min_cores: number;
  readonly iocm_max_cores: number;
  readonly unclot: boolean;
  readonly unclot_shmem: number;
  readonly debug: boolean;
  readonly trace: boolean;
}

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
