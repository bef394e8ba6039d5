import { startDaemons } from './daemons.js';
import { SandboxError } from './errors.js';
import { sandboxLayout, uriForLayout, type SandboxLayout } from './layout.js';
import { ensureNetns, linkExists } from './netns.js';
import { resolveSandboxOptions, type Sandbox, type SandboxOptions } from './options.js';
import { requireRootAndTools } from './preconditions.js';
import { prepareStateDir } from './state-dir.js';
import { collectStatus, formatSandboxStatus, type SandboxStatus } from './status.js';
import { networkInfo, virsh } from './virsh.js';

/**
 * Bring the sandbox up (idempotent): netns, private-state virtlogd + libvirtd inside it, the
 * isolated network active, its bridge present only inside the netns. Logs the status and returns it.
 */
export async function sandboxUp(opts: SandboxOptions = {}): Promise<SandboxStatus> {
  const sb = resolveSandboxOptions(opts);
  requireRootAndTools('up');
  const layout = sandboxLayout(sb);
  const started = performance.now();
  if (await linkExists(null, sb.network.bridge)) {
    throw new SandboxError('up', 'USAGE', `a link named ${sb.network.bridge} exists in the root namespace; choose another network.bridge`, { fault: 'job' });
  }
  if (await ensureNetns(sb.name)) sb.log(`created network namespace ${sb.name}`);
  prepareStateDir(sb, layout);
  const pids = await startDaemons(sb, layout);
  sb.log(`daemons: libvirtd pid ${pids.libvirtd}, virtlogd pid ${pids.virtlogd}`);
  const uri = uriForLayout(layout);
  await keepDefaultNetworkDown(uri, sb);
  await ensureNetwork(uri, sb, layout);
  await verifyBridge(sb);
  const status = await collectStatus(sb, layout);
  sb.log(`sandbox ${sb.name} up in ${Math.round(performance.now() - started)} ms`);
  for (const line of formatSandboxStatus(status)) sb.log(line);
  return status;
}

/** libvirt's `default` network is never started in the sandbox; it is not even seeded, but a
 * definition made by hand must not autostart either. */
async function keepDefaultNetworkDown(uri: string, sb: Sandbox): Promise<void> {
  const info = await networkInfo(uri, 'default');
  if (info === null) return;
  if (info.autostart) {
    await virsh(uri, ['net-autostart', '--disable', 'default']);
    sb.log("disabled autostart of libvirt's 'default' network in the sandbox");
  }
  if (info.active) {
    await virsh(uri, ['net-destroy', 'default']);
    sb.log("stopped libvirt's 'default' network, which was active in the sandbox");
  }
}

async function ensureNetwork(uri: string, sb: Sandbox, layout: SandboxLayout): Promise<void> {
  const net = sb.network;
  const info = await networkInfo(uri, net.name);
  if (info?.active) {
    if (info.bridge !== net.bridge) {
      throw new SandboxError('up', 'USAGE', `network ${net.name} is active with bridge ${info.bridge ?? '?'}, not ${net.bridge}; run sandbox down first`, { fault: 'node' });
    }
    sb.log(`network ${net.name} already active (bridge ${net.bridge})`);
    return;
  }
  // Inactive or absent: (re)define from the current options, so a changed subnet takes effect.
  if (info !== null) await virsh(uri, ['net-undefine', net.name]);
  await virsh(uri, ['net-define', layout.networkXml]);
  if (info?.autostart) await virsh(uri, ['net-autostart', '--disable', net.name]);
  await virsh(uri, ['net-start', net.name]);
  sb.log(`network ${net.name} defined from ${layout.networkXml} and started: ${net.subnet}.1/24, DHCP .100-.199, bridge ${net.bridge}`);
}

async function verifyBridge(sb: Sandbox): Promise<void> {
  const { bridge } = sb.network;
  if (!(await linkExists(sb.name, bridge))) {
    throw new SandboxError('up', 'INTERNAL', `bridge ${bridge} is missing in netns ${sb.name} although the network is active`, { fault: 'node' });
  }
  if (await linkExists(null, bridge)) {
    throw new SandboxError('up', 'INTERNAL', `bridge ${bridge} exists in the root namespace; the sandbox must not create it there`, { fault: 'node' });
  }
  sb.log(`bridge ${bridge} exists only in netns ${sb.name}`);
}
