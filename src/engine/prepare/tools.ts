import { findExecutable, missingToolError, type NodeTool } from '../../core/exec/which.js';
import type { PrepareTools } from './types.js';

export const TOOL_NAMES: Readonly<Record<keyof PrepareTools, NodeTool>> = {
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
  for (const key of Object.keys(TOOL_NAMES) as (keyof PrepareTools)[]) {
    found[key] = Object.hasOwn(overrides, key) ? (overrides[key] ?? null) : findExecutable(TOOL_NAMES[key].file);
  }
  return found;
}

/** The program's path, or a node fault naming the program and the Debian package that provides it. */
export function need(tools: PrepareTools, key: keyof PrepareTools): string {
  const path = tools[key];
  if (path === null) throw missingToolError([TOOL_NAMES[key]], "preparing the job's VMs");
  return path;
}

/** Per-command limits: image copies into a tmpfs can take a while; everything else is quick. */
export const TIMEOUT_MS = { short: 60_000, copy: 600_000 } as const;
