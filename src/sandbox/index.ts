/**
 * `vtorque sandbox up|down|status`: a libvirt sandbox inside a network namespace.
 *
 * - A network namespace `<name>` (`ip netns add`), loopback up.
 * - virtlogd and libvirtd run inside it (`ip netns exec` + nsenter) and inside a private mount
 *   namespace in which `<stateDir>/{etc,run,lib,cache,log}` are bind-mounted over /etc/libvirt,
 *   /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt. Their sockets,
 *   driver state, definitions and logs are therefore their own; a site libvirtd may run beside them.
 *   Clients (virsh, the Node binding) in the root namespace use `sandboxUri()`:
 *   `qemu:///system?socket=<stateDir>/run/libvirt-sock`.
 * - An isolated network (no `<forward>`, DHCP .100-.199, local DNS domain) whose bridge exists only
 *   inside the netns. libvirt's `default` network is never seeded, autostarted or started.
 * - Domain file paths (disks, kernels, serial logs) must lie outside the shadowed directories.
 * - VMs here must use `<domain type='qemu'>` (TCG): vTorque config `HYPERVISOR: qemu`.
 * - `ip netns exec` remounts /sys, so libvirtd sees no cgroups: `<memtune>`/`<cputune><shares>`
 *   are not enforced in the sandbox (vcpupin still works).
 */
import { sandboxLayout, uriForLayout } from './layout.js';
import { resolveSandboxOptions, type SandboxOptions } from './options.js';
import { requireRootAndTools } from './preconditions.js';
import { collectStatus, type SandboxStatus } from './status.js';

export { sandboxUp } from './up.js';
export { sandboxDown } from './down.js';
export { formatSandboxStatus, type SandboxStatus } from './status.js';
export { deleteNetns, ensureNetns, linkExists, netnsExists, netnsPids, pidInNetns } from './netns.js';
export { isAlive, pollUntil, programOf, readPidFile, sleep, terminate } from './processes.js';
export { SandboxError } from './errors.js';
export { SANDBOX_DEFAULTS, resolveSandboxOptions, type DhcpHost, type Sandbox, type SandboxNetwork, type SandboxOptions } from './options.js';
export { buildNetworkXml, DHCP_RANGE } from './network-xml.js';

/** Whether the sandbox runs, with its pids, URI, network state and bridge address. Changes nothing. */
export async function sandboxStatus(opts: SandboxOptions = {}): Promise<SandboxStatus> {
  const sb = resolveSandboxOptions(opts);
  requireRootAndTools('status');
  return collectStatus(sb);
}

/** The libvirt URI clients in the root namespace use to reach the sandbox's libvirtd. */
export function sandboxUri(opts: SandboxOptions = {}): string {
  return uriForLayout(sandboxLayout(resolveSandboxOptions(opts)));
}

/** The argv that runs `file args…` inside the sandbox's network namespace. */
export function inSandbox(name: string, file: string, args: readonly string[]): string[] {
  resolveSandboxOptions({ name }); // a valid netns name, never an option-looking string
  return ['ip', 'netns', 'exec', name, file, ...args];
}
