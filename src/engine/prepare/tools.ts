import { findExecutable } from '../../core/exec/which.js';
import { VtorqueError } from '../../core/errors.js';
import type { PrepareTools } from './types.js';

const NAMES: Readonly<Record<keyof PrepareTools, { readonly file: string; readonly pkg: string }>> = {
  qemuImg: { file: 'qemu-img', pkg: 'qemu-utils' },
  sshKeygen: { file: 'ssh-keygen', pkg: 'openssh-client' },
  genisoimage: { file: 'genisoimage', pkg: 'genisoimage' },
  cloudLocalds: { file: 'cloud-localds', pkg: 'cloud-image-utils' },
  mount: { file: 'mount', pkg: 'mount' },
  umount: { file: 'umount', pkg: 'mount' },
  cp: { file: 'cp', pkg: 'coreutils' },
};

/** Look every program up once (PATH, then sbin), then apply the caller's overrides. */
export function resolveTools(overrides: Partial<PrepareTools> = {}): PrepareTools {
  const found = {} as Record<keyof PrepareTools, string | null>;
  for (const key of Object.keys(NAMES) as (keyof PrepareTools)[]) {
    found[key] = Object.hasOwn(overrides, key) ? (overrides[key] ?? null) : findExecutable(NAMES[key].file);
  }
  return found;
}

/** The program's path, or a refusal naming the package that provides it. */
export function need(tools: PrepareTools, key: keyof PrepareTools): string {
  const path = tools[key];
  if (path === null) throw new VtorqueError('NOT_SUPPORTED', `${NAMES[key].file} is not installed (package ${NAMES[key].pkg})`);
  return path;
}

/** Per-command limits: image copies into a tmpfs can take a while; everything else is quick. */
export const TIMEOUT_MS = { short: 60_000, copy: 600_000 } as const;
