import { readlinkSync, statSync } from 'node:fs';
import { run } from '../core/exec/run.js';

/** Adapter for `ip netns` / `ip link` / `ip addr`: the only sandbox file that runs `ip`. */

const IP_TIMEOUT_MS = 10_000;

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export async function netnsExists(name: string): Promise<boolean> {
  const res = await run('ip', ['netns', 'list'], { timeoutMs: IP_TIMEOUT_MS });
  return res.stdout.split('\n').some((line) => line.split(' ')[0] === name);
}

/** `ip netns add` when absent, and loopback up either way. Returns whether it was created. */
export async function ensureNetns(name: string): Promise<boolean> {
  const created = !(await netnsExists(name));
  if (created) await run('ip', ['netns', 'add', name], { timeoutMs: IP_TIMEOUT_MS });
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs: IP_TIMEOUT_MS });
  return created;
}

export async function deleteNetns(name: string): Promise<boolean> {
  if (!(await netnsExists(name))) return false;
  await run('ip', ['netns', 'del', name], { timeoutMs: IP_TIMEOUT_MS });
  return true;
}

/** The pids `ip netns pids` reports for the namespace (empty when it does not exist). */
export async function netnsPids(name: string): Promise<number[]> {
  if (!(await netnsExists(name))) return [];
  const res = await run('ip', ['netns', 'pids', name], { timeoutMs: IP_TIMEOUT_MS });
  return res.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
}

/**
 * Whether `pid` lives in network namespace `name`: its /proc/<pid>/ns/net link names the inode of
 * /run/netns/<name> (what `ip netns identify` compares). False when either is gone.
 */
export function pidInNetns(pid: number, name: string): boolean {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/net`);
    return link === `net:[${statSync(netnsPath(name)).ino}]`;
  } catch {
    return false;
  }
}

/** Whether a link exists, in the namespace `ns` or (null) in the root namespace. */
export async function linkExists(ns: string | null, dev: string): Promise<boolean> {
  const args = [...(ns === null ? [] : ['-n', ns]), 'link', 'show', 'dev', dev];
  const res = await run('ip', args, { timeoutMs: IP_TIMEOUT_MS, reject: false });
  return res.exitCode === 0;
}

/** The first IPv4 address of `dev` in `ns`, as `a.b.c.d/len`, or null. */
export async function linkAddress(ns: string, dev: string): Promise<string | null> {
  const res = await run('ip', ['-n', ns, '-j', '-4', 'addr', 'show', 'dev', dev], { timeoutMs: IP_TIMEOUT_MS, reject: false });
  if (res.exitCode !== 0) return null;
  try {
    const links = JSON.parse(res.stdout) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    const addr = links[0]?.addr_info?.[0];
    return addr?.local ? `${addr.local}/${addr.prefixlen ?? 32}` : null;
  } catch {
    return null;
  }
}
