import { type ConfigKey, type Distro, DISTROS, FS_TYPES, type FsType, parseBoolWord } from '../config/index.js';
import { SIZE_FORM } from '../size/index.js';
import { LIMITS } from './limits.js';
import type { RequestKey } from './types.js';

export { LIMITS };

export const IMAGE_NAME = /^[A-Za-z0-9._+-]{1,200}\.(img|qcow2|raw)$/;

/** What each -vm key accepts, worded for error messages. */
export const ACCEPTED: Readonly<Record<string, string>> = {
  img: 'an image file name ending .img, .qcow2 or .raw (see `vmgr show images`)',
  distro: `one of ${DISTROS.join(', ')}`,
  arch: 'x86_64',
  vcpus: `an integer from ${LIMITS.vcpus.min} to ${LIMITS.vcpus.max}`,
  ram: `${SIZE_FORM}, at least 64M`,
  vms_per_node: 'an integer from 1 to MAX_VMS_PER_NODE',
  vcpu_pinning: 'true, false or a pinning file (one line per VM: host CPU per vCPU)',
  disk: 'a path to an existing .img, .qcow2 or .raw file of yours under DISK_DIRS',
  vm_prologue: 'a path to a readable script file',
  vm_epilogue: 'a path to a readable script file',
  fs_type: `one of ${FS_TYPES.join(', ')}`,
  metadata: 'a path to a YAML cloud-config file (.yaml/.yml) with keys the site allows',
  vrdma: 'true or false',
  iocm: 'true or false',
  iocm_min_cores: 'an integer from 0 to IOCM_MAX_CORES',
  iocm_max_cores: 'an integer from 0 to IOCM_MAX_CORES',
  unclot: 'true or false',
  unclot_shmem: 'a size like 1024M or 1G',
};

/**
 * The site config key each -vm key defaults to (null: no default, the feature is off). buildRequest
 * takes its defaults from here and `vsub --help` shows them, so the two cannot drift apart.
 */
export const REQUEST_DEFAULTS = {
  img: 'IMG_DEFAULT',
  distro: 'DISTRO_DEFAULT',
  arch: 'ARCH_DEFAULT',
  vcpus: 'VCPUS_DEFAULT',
  ram: 'RAM_DEFAULT',
  vms_per_node: 'VMS_PER_NODE_DEFAULT',
  vcpu_pinning: 'VCPU_PINNING_DEFAULT',
  disk: 'DISK_DEFAULT',
  vm_prologue: null,
  vm_epilogue: null,
  fs_type: 'FILESYSTEM_TYPE_DEFAULT',
  metadata: null,
  vrdma: 'VRDMA_ENABLED_DEFAULT',
  iocm: 'IOCM_ENABLED_DEFAULT',
  iocm_min_cores: 'IOCM_MIN_CORES_DEFAULT',
  iocm_max_cores: 'IOCM_MAX_CORES_DEFAULT',
  unclot: 'UNCLOT_ENABLED_DEFAULT',
  unclot_shmem: 'UNCLOT_SHMEM_DEFAULT',
} as const satisfies Readonly<Record<RequestKey, ConfigKey | null>>;

/** Keys whose value is a size (normalised to MiB). */
export const SIZE_KEYS: readonly RequestKey[] = ['ram', 'unclot_shmem'];

/**
 * Booleans as the original accepted them: true/false, yes/no, enabled/disabled (any case), auto,
 * and its shell-style digits where 0 means enabled and 1 means disabled.
 */
export function parseRequestBool(text: string): boolean | undefined {
  if (text === '0') return true;
  if (text === '1') return false;
  return parseBoolWord(text);
}

export function parseInteger(text: string, min: number, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

export function parseDistro(text: string): Distro | undefined {
  const d = text.toLowerCase();
  return (DISTROS as readonly string[]).includes(d) ? (d as Distro) : undefined;
}

export function parseFsType(text: string): FsType | undefined {
  const f = text.toLowerCase();
  return (FS_TYPES as readonly string[]).includes(f) ? (f as FsType) : undefined;
}

/** The distro an image name implies, as the original guessed it from the file name. */
export function distroFromImageName(name: string): Distro | undefined {
  const n = name.toLowerCase();
  if (/debian|ubuntu/.test(n)) return n.includes('ubuntu') ? 'ubuntu' : 'debian';
  if (/redhat|rhel/.test(n)) return 'redhat';
  if (/centos/.test(n)) return 'centos';
  if (/osv/.test(n)) return 'osv';
  return undefined;
}

/**
 * Pinning file: one line per VM, each listing one host CPU per vCPU (space or comma separated);
 * `#` starts a comment. Returns undefined when the text is not of that form.
 */
export function parsePinningText(text: string): number[][] | undefined {
  const rows: number[][] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/#.*/, '').trim();
    if (line === '') continue;
    const cells = line.split(/[\s,]+/);
    if (!cells.every((c) => /^\d{1,5}$/.test(c))) return undefined;
    rows.push(cells.map(Number));
  }
  return rows.length > 0 ? rows : undefined;
}
