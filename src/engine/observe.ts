import type { HostCapacity } from '../core/node/capacity.js';
import { parseCpuList } from '../core/node/capacity.js';
import type { LibvirtNode } from './libvirt/index.js';
import type { NodeState } from './types.js';

const MAC_ATTR = /<mac\s+address=['"]([0-9a-fA-F:]{17})['"]/g;
const VCPUPIN = /<vcpupin\s[^>]*cpuset=['"]([0-9,\-^]+)['"]/g;
/** A `<seclabel …>…</seclabel>` element with a body (self-closing ones carry no label). */
const SECLABEL = /<seclabel\b([^>]*?)(?<!\/)>([\s\S]*?)<\/seclabel>/g;
const DAC_MODEL = /\bmodel\s*=\s*(['"])dac\1/;
/** `+1001:+1002` (numeric ids), or `1001:1002` as libvirt also accepts them. */
const DAC_LABEL = /<label>\s*\+?(\d{1,10})\s*:\s*\+?\d{1,10}\s*<\/label>/;

/** `<memory unit='KiB'>N</memory>`: the most a domain may take (its balloon can only lower what it uses). */
const MEMORY = /<memory(?:\s+unit=['"](\w+)['"])?\s*>\s*(\d{1,20})\s*<\/memory>/;
const UNIT_KIB: Record<string, number> = { b: 1 / 1024, bytes: 1 / 1024, k: 1, kib: 1, kb: 1000 / 1024, m: 1024, mib: 1024, mb: 1e6 / 1024, g: 1024 ** 2, gib: 1024 ** 2, gb: 1e9 / 1024, t: 1024 ** 3, tib: 1024 ** 3, tb: 1e12 / 1024 };

/** What the domains on a node hold, whichever job they belong to. */
export type DomainHoldings = Pick<NodeState, 'usedMacs' | 'busyCpus' | 'busyQemuUids' | 'heldMemMiB'>;

/**
 * What a node already holds: every MAC libvirt knows (defined or running), the CPUs running
 * domains are pinned to, the memory running domains may take, and the uids domains run qemu as
 * (their DAC labels, defined or running), so a new job neither reuses a MAC nor shares a pinned
 * core nor a QEMU_USER job-uid uid, and its memory is counted against what is left.
 */
export async function observeNode(name: string, capacity: HostCapacity, libvirt: LibvirtNode): Promise<NodeState> {
  return { name, capacity, ...(await observeDomains(libvirt)) };
}

export async function observeDomains(libvirt: LibvirtNode): Promise<DomainHoldings> {
  const usedMacs = new Set<string>();
  const busyCpus = new Set<number>();
  const busyQemuUids = new Set<number>();
  let heldKiB = 0;
  for (const domain of await libvirt.listDomains()) {
    let xml: string;
    try {
      xml = await libvirt.xmlOf(domain.name);
    } catch {
      continue; // gone meanwhile
    }
    for (const mac of domainMacs(xml)) usedMacs.add(mac);
    for (const uid of dacUids(xml)) busyQemuUids.add(uid);
    if (!domain.active) continue;
    heldKiB += domainMemoryKiB(xml);
    for (const m of xml.matchAll(VCPUPIN)) {
      for (const cpu of parseCpuList((m[1] as string).replace(/\^\d+/g, ''))) busyCpus.add(cpu);
    }
  }
  return { usedMacs, busyCpus, busyQemuUids, heldMemMiB: Math.ceil(heldKiB / 1024) };
}

/** A domain's `<memory>` in KiB (libvirt's default unit); 0 when the XML has none. */
export function domainMemoryKiB(xml: string): number {
  const m = MEMORY.exec(xml);
  if (!m) return 0;
  const unit = UNIT_KIB[(m[1] ?? 'KiB').toLowerCase()] ?? 1;
  return Number(m[2]) * unit;
}

/** Every interface MAC of a domain's XML, lower case. */
export function domainMacs(xml: string): string[] {
  return [...xml.matchAll(MAC_ATTR)].map((m) => (m[1] as string).toLowerCase());
}

/** The uids of every DAC seclabel with a numeric label in a domain's XML (any type: static or dynamic). */
export function dacUids(xml: string): number[] {
  const uids: number[] = [];
  for (const m of xml.matchAll(SECLABEL)) {
    if (!DAC_MODEL.test(m[1] as string)) continue;
    const label = DAC_LABEL.exec(m[2] as string);
    if (label) uids.push(Number(label[1]));
  }
  return uids;
}
