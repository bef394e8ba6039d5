import { findExecutable } from '../core/exec/which.js';
import { SandboxError } from './errors.js';
import type { SandboxOp } from './errors.js';

/** The programs the sandbox runs, with the Debian package that provides each. */
const TOOLS = [
  { file: 'ip', pkg: 'iproute2' },
  { file: 'nsenter', pkg: 'util-linux' },
  { file: 'mount', pkg: 'mount' },
  { file: 'mknod', pkg: 'coreutils' },
  { file: 'setpriv', pkg: 'util-linux' },
  { file: 'virsh', pkg: 'libvirt-clients' },
  { file: 'libvirtd', pkg: 'libvirt-daemon-system' },
  { file: 'virtlogd', pkg: 'libvirt-daemon-system' },
  { file: 'dnsmasq', pkg: 'dnsmasq-base' },
] as const;

export function requireRootAndTools(op: SandboxOp): void {
  if (process.getuid?.() !== 0) throw new SandboxError(op, 'PERMISSION', 'must run as root (it creates a network namespace and runs libvirtd)', { fault: 'job' });
  const missing = TOOLS.filter((t) => findExecutable(t.file) === null);
  if (missing.length > 0) {
    const list = missing.map((t) => `${t.file} (Debian package ${t.pkg})`).join(', ');
    throw new SandboxError(op, 'NOT_SUPPORTED', `missing ${list}; install with apt-get install ${[...new Set(missing.map((t) => t.pkg))].join(' ')}`, { fault: 'node' });
  }
}
