import { chmodSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { run } from '../core/exec/run.js';
import { spawnBackground } from '../core/exec/spawn-background.js';
import { pidInNetns, pollUntil, programOf, readPidFile, terminate } from '../sandbox/index.js';
import { TestbedError } from './errors.js';
import type { NodeLayout } from './layout.js';
import type { TestbedNode } from './options.js';

const HOLDER_PROGRAM = 'sleep';
const CMD_TIMEOUT_MS = 30_000;

/**
 * A node's namespaces are held by one process of ours: `sleep infinity` started with
 * `ip netns exec <node> unshare --uts` (so it has the node's netns, a mount namespace of its own
 * with /sys for that netns, and its own host name), in a session of its own so it outlives the
 * command that made it. Everything of the node (binds, daemons, commands) enters through it.
 */
export function holderPid(node: TestbedNode, nl: NodeLayout): number | null {
  const pid = readPidFile(nl.holderPidFile);
  if (pid === null || programOf(pid) !== HOLDER_PROGRAM || !pidInNetns(pid, node.name)) return null;
  return pid;
}

export async function startHolder(node: TestbedNode, nl: NodeLayout, log: (line: string) => void): Promise<number> {
  const existing = holderPid(node, nl);
  if (existing !== null) return existing;
  const child = await spawnBackground('setsid', ['ip', 'netns', 'exec', node.name, 'unshare', '--uts', '--', HOLDER_PROGRAM, 'infinity'], { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' });
  const ownUts = readlinkSync('/proc/self/ns/uts');
  const ready = await pollUntil(() => programOf(child.pid) === HOLDER_PROGRAM && pidInNetns(child.pid, node.name) && readlinkSync(`/proc/${child.pid}/ns/uts`) !== ownUts, 10_000, 20);
  if (!ready) {
    await terminate(child.pid, 1000);
    throw new TestbedError('up', 'COMMAND_FAILED', `node ${node.name}: no namespace holder within 10 s (ip netns exec ${node.name} unshare --uts)`, { fault: 'node' });
  }
  writeFileSync(nl.holderPidFile, `${child.pid}\n`, { mode: 0o644 });
  await run('nsenter', ['-t', String(child.pid), '-u', '--', 'hostname', node.name], { timeoutMs: CMD_TIMEOUT_MS });
  for (const { source, target } of nl.binds) {
    await run('nsenter', ['-t', String(child.pid), '-m', '--', 'mount', '--bind', source, target], { timeoutMs: CMD_TIMEOUT_MS });
  }
  log(`node ${node.name}: namespaces held by pid ${child.pid}; ${nl.binds.map((b) => b.target).join(', ')} are its own`);
  return child.pid;
}

/** The argv that runs `argv` inside the node (its network, mount and UTS namespaces). */
export function inNode(holder: number, argv: readonly string[]): string[] {
  return ['nsenter', '-t', String(holder), '-m', '-u', '-n', '--', ...argv];
}

/** Directories a node's binds need, made root's (tmp sticky and world-writable, as /tmp is). */
export function makeNodeDirs(nl: NodeLayout): void {
  for (const dir of [nl.dir, nl.install, nl.spool, nl.logDir, nl.ramdisk, nl.libvirtStateDir, `${nl.dir}/sshd`]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  mkdirSync(nl.tmp, { recursive: true });
  chmodSync(nl.tmp, 0o1777);
}

/** The sandbox's steps, without its status block and its hints for a one-machine sandbox (the testbed prints its own). */
export function libvirtLog(log: (line: string) => void): (line: string) => void {
  return (line) => {
    if (/^\s|^sandbox \S+: (running|stopped)/.test(line)) return;
    log(line);
  };
}
