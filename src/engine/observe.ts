import type { HostCapacity } from '../core/node/capacity.js';
import { parseCpuList } from '../core/node/capacity.js';
import type { LibvirtNode } from './libvirt/index.js';
import type { NodeState } from './types.js';

const MAC_ATTR = /<mac\s+address=['"]([0-9a-fA-F:]{17})['"]/g;
const VCPUPIN = /<vcpupin\s[^>]*cpuset=['"]([0-9,\-^]+)['"]/g;

/**
 * What a node already holds: every MAC libvirt knows (defined or running) and the CPUs running
 * domains are pinned to, so a new job neither reuses a MAC nor shares a pinned core.
 */
export async function observeNode(name: string, capacity: HostCapacity, libvirt: LibvirtNode): Promise<NodeState> {
  const usedMacs = new Set<string>();
  const busyCpus = new Set<number>();
  for (const domain of await libvirt.listDomains()) {
    let xml: string;
    try {
      xml = await libvirt.xmlOf(domain.name);
    } catch {
      continue; // gone meanwhile
    }
    for (const m of xml.matchAll(MAC_ATTR)) usedMacs.add((m[1] as string).toLowerCase());
    if (!domain.active) continue;
    for (const m of xml.matchAll(VCPUPIN)) {
      for (const cpu of parseCpuList((m[1] as string).replace(/\^\d+/g, ''))) busyCpus.add(cpu);
    }
  }
  return { name, capacity, usedMacs, busyCpus };
}
