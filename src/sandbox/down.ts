import { daemonPids } from './daemons.js';
import { sandboxLayout, uriForLayout, type SandboxLayout } from './layout.js';
import { deleteNetns, netnsExists, netnsPids, pidInNetns } from './netns.js';
import { resolveSandboxOptions, type Sandbox, type SandboxOptions } from './options.js';
import { requireRootAndTools } from './preconditions.js';
import { programOf, readPidFile, removePidFile, terminate } from './processes.js';
import { collectStatus, formatSandboxStatus, type SandboxStatus } from './status.js';
import { libvirtAnswers, networkInfo, runningDomains, virsh } from './virsh.js';

/** What libvirt leaves behind in the netns when libvirtd could not clean up: ours to end. */
const LIBVIRT_CHILDREN = /^(dnsmasq|qemu-system-.*|virtiofsd)$/;

/**
 * Take the sandbox down (idempotent): destroy its running domains, stop its network (and so its
 * dnsmasq), then end libvirtd and virtlogd by the pids in their pidfiles, each only after checking
 * it runs that program inside this netns. `deleteNetns` also removes the namespace.
 */
export async function sandboxDown(opts: SandboxOptions = {}): Promise<SandboxStatus> {
  const sb = resolveSandboxOptions(opts);
  requireRootAndTools('down');
  const layout = sandboxLayout(sb);
  const started = performance.now();
  const netns = await netnsExists(sb.name);
  const pids = netns ? daemonPids(sb, layout) : { libvirtd: null, virtlogd: null };
  reportStalePidFiles(sb, layout, pids);
  const uri = uriForLayout(layout);
  if (pids.libvirtd !== null && (await libvirtAnswers(uri))) await stopGuestsAndNetwork(uri, sb);
  for (const [program, pid] of [['libvirtd', pids.libvirtd], ['virtlogd', pids.virtlogd]] as const) {
    if (pid === null) continue;
    sb.log(`${program} pid ${pid}: ${await terminate(pid)}`);
  }
  if (netns) await endLeftovers(sb);
  removePidFile(layout.libvirtdPidFile);
  removePidFile(layout.virtlogdPidFile);
  if (sb.deleteNetns && (await deleteNetns(sb.name))) sb.log(`deleted network namespace ${sb.name}`);
  const status = await collectStatus(sb, layout);
  sb.log(`sandbox ${sb.name} down in ${Math.round(performance.now() - started)} ms`);
  for (const line of formatSandboxStatus(status)) sb.log(line);
  return status;
}

async function stopGuestsAndNetwork(uri: string, sb: Sandbox): Promise<void> {
  for (const dom of await runningDomains(uri)) {
    await virsh(uri, ['destroy', dom]);
    sb.log(`destroyed domain ${dom}`);
  }
  const info = await networkInfo(uri, sb.network.name);
  if (info?.active) {
    await virsh(uri, ['net-destroy', sb.network.name]);
    sb.log(`network ${sb.network.name} stopped (its dnsmasq with it)`);
  }
}

function reportStalePidFiles(sb: Sandbox, layout: SandboxLayout, live: { libvirtd: number | null; virtlogd: number | null }): void {
  for (const [program, file, pid] of [['libvirtd', layout.libvirtdPidFile, live.libvirtd], ['virtlogd', layout.virtlogdPidFile, live.virtlogd]] as const) {
    const recorded = readPidFile(file);
    if (recorded !== null && pid === null) sb.log(`stale ${file}: pid ${recorded} is not a ${program} in netns ${sb.name}; not signalled`);
  }
}

/** End libvirt's helpers still in the netns; report anything else without touching it. */
async function endLeftovers(sb: Sandbox): Promise<void> {
  for (const pid of await netnsPids(sb.name)) {
    const program = programOf(pid);
    if (program === null || !pidInNetns(pid, sb.name)) continue;
    if (LIBVIRT_CHILDREN.test(program)) sb.log(`leftover ${program} pid ${pid} in netns ${sb.name}: ${await terminate(pid)}`);
    else sb.log(`note: pid ${pid} (${program}) still runs in netns ${sb.name}; left alone`);
  }
}
