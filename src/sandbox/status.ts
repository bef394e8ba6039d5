import { existsSync, readFileSync } from 'node:fs';
import { daemonPids } from './daemons.js';
import { sandboxLayout, uriForLayout, type SandboxLayout } from './layout.js';
import { linkAddress, linkExists, netnsExists } from './netns.js';
import type { Sandbox } from './options.js';
import { libvirtAnswers, networkInfo } from './virsh.js';

export interface SandboxStatus {
  readonly name: string;
  readonly stateDir: string;
  /** The URI to put in LIBVIRT_URI (vTorque config) or give to `virsh -c`. */
  readonly uri: string;
  readonly netns: boolean;
  /** libvirtd is up in the netns and answers on `uri`. */
  readonly running: boolean;
  readonly pids: { readonly libvirtd: number | null; readonly virtlogd: number | null };
  readonly network: {
    readonly name: string;
    readonly bridge: string;
    readonly defined: boolean;
    readonly active: boolean;
    readonly autostart: boolean;
    /** The bridge's address inside the netns, e.g. `10.213.0.1/24`. */
    readonly address: string | null;
    readonly bridgeInNetns: boolean;
    /** Must stay false: the bridge never exists in the root namespace. */
    readonly bridgeInRootNs: boolean;
  };
  /** /dev/kvm is masked inside the sandbox's mount namespace (see kvm.ts). */
  readonly kvmHidden: boolean;
  /** What vTorque's HYPERVISOR should be for VMs in this sandbox: TCG, since KVM guests hang here. */
  readonly hypervisor: 'qemu';
}

export async function collectStatus(sb: Sandbox, layout: SandboxLayout = sandboxLayout(sb)): Promise<SandboxStatus> {
  const uri = uriForLayout(layout);
  const netns = await netnsExists(sb.name);
  const pids = netns ? daemonPids(sb, layout) : { libvirtd: null, virtlogd: null };
  const running = pids.libvirtd !== null && existsSync(layout.socket) && (await libvirtAnswers(uri));
  const info = running ? await networkInfo(uri, sb.network.name) : null;
  const bridgeInNetns = netns && (await linkExists(sb.name, sb.network.bridge));
  return {
    name: sb.name,
    stateDir: sb.stateDir,
    uri,
    netns,
    running,
    pids,
    network: {
      name: sb.network.name,
      bridge: sb.network.bridge,
      defined: info !== null,
      active: info?.active ?? false,
      autostart: info?.autostart ?? false,
      address: bridgeInNetns ? await linkAddress(sb.name, sb.network.bridge) : null,
      bridgeInNetns,
      bridgeInRootNs: await linkExists(null, sb.network.bridge),
    },
    kvmHidden: pids.libvirtd !== null && kvmMaskedFor(pids.libvirtd),
    hypervisor: 'qemu',
  };
}

/** Whether /dev/kvm is a mount point in the process's mount namespace (our mask). */
function kvmMaskedFor(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').some((l) => l.split(' ')[4] === '/dev/kvm');
  } catch {
    return false;
  }
}

/** Human-readable lines for `vtorque sandbox status` (the CLI prints them). */
export function formatSandboxStatus(st: SandboxStatus): string[] {
  const pid = (p: number | null): string => (p === null ? 'not running' : `pid ${p}`);
  const net = st.network;
  return [
    `sandbox ${st.name}: ${st.running ? 'running' : 'stopped'} (netns ${st.netns ? 'present' : 'absent'}, state ${st.stateDir})`,
    `  libvirtd: ${pid(st.pids.libvirtd)}; virtlogd: ${pid(st.pids.virtlogd)}`,
    `  uri: ${st.uri}`,
    `  network ${net.name}: ${!st.running ? 'unknown (libvirtd not answering)' : net.active ? 'active' : net.defined ? 'inactive' : 'not defined'}; bridge ${net.bridge} ${net.address ?? '(absent)'} in netns ${st.name}` +
      (net.bridgeInRootNs ? `; WARNING: a link ${net.bridge} exists in the root namespace` : ''),
    `  config: LIBVIRT_URI: '${st.uri}'  HYPERVISOR: ${st.hypervisor} (TCG; KVM guests hang on this host${st.kvmHidden ? '; /dev/kvm hidden in the sandbox' : ''})`,
    `  run inside the netns: ip netns exec ${st.name} <command>`,
  ];
}
