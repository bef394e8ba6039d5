import { readFileSync, readdirSync } from 'node:fs';

export interface HostCapacity {
  cores: number;
  memMiB: number;
  /** NUMA node id → its CPU ids (libvirt's nodeGetInfo reports only one NUMA node). */
  numa: Record<number, number[]>;
}

/** This host's CPUs and NUMA layout from /sys, memory from /proc/meminfo. */
export function hostCapacity(sys = '/sys', proc = '/proc'): HostCapacity {
  const online = readFileSync(`${sys}/devices/system/cpu/online`, 'utf8').trim();
  const cpus = parseCpuList(online);
  const mem = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync(`${proc}/meminfo`, 'utf8'));
  const numa: Record<number, number[]> = {};
  let nodes: string[] = [];
  try {
    nodes = readdirSync(`${sys}/devices/system/node`).filter((d) => /^node\d+$/.test(d));
  } catch {
    nodes = [];
  }
  for (const node of nodes) {
    numa[Number(node.slice(4))] = parseCpuList(readFileSync(`${sys}/devices/system/node/${node}/cpulist`, 'utf8').trim());
  }
  if (nodes.length === 0) numa[0] = cpus;
  return { cores: cpus.length, memMiB: mem ? Math.floor(Number(mem[1]) / 1024) : 0, numa };
}

/** Linux cpulist syntax: "0-3,8,10-11". */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    if (part === '') continue;
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}
