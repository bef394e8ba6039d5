import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { run } from '../core/exec/run.js';
import { pidInNetns, pollUntil, programOf, readPidFile } from '../sandbox/index.js';
import { TestbedError } from './errors.js';
import type { NodeLayout, TestbedLayout } from './layout.js';
import { inNode } from './node-ns.js';
import type { Testbed, TestbedNode } from './options.js';

const KEYGEN_TIMEOUT_MS = 30_000;

async function keygen(file: string, comment: string): Promise<void> {
  if (existsSync(file)) return;
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { timeoutMs: KEYGEN_TIMEOUT_MS });
}

/**
 * sshd of one node: its own host key, listening on the node's interconnect address only, root
 * by key only (the testbed's client key, which is what NODE_AGENT_COMMAND uses), nobody else.
 */
export function renderSshdConfig(tb: Testbed, node: TestbedNode, nl: NodeLayout, l: TestbedLayout): string {
  return [
    `# Written by vtorque testbed up for node ${node.name} (${tb.name}); rewritten on every up.`,
    `ListenAddress ${node.address}`,
    'Port 22',
    `HostKey ${nl.sshdHostKey}`,
    `PidFile ${nl.sshdPidFile}`,
    `AuthorizedKeysFile ${l.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'AllowUsers root',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'PrintMotd no',
    'StrictModes yes',
    '',
  ].join('\n');
}

/** The testbed's root client key, accepted by every node's sshd, and known_hosts naming every node's host key. */
export async function prepareKeys(tb: Testbed, l: TestbedLayout): Promise<void> {
  mkdirSync(l.sshDir, { recursive: true, mode: 0o700 });
  await keygen(l.clientKey, `vtorque-testbed-${tb.name}`);
  writeFileSync(l.authorizedKeys, readFileSync(`${l.clientKey}.pub`, 'utf8'), { mode: 0o600 });
  for (const node of tb.nodes) await keygen(l.node(node).sshdHostKey, `${node.name}-host`);
  const lines = tb.nodes.map((n) => {
    const [type, key] = readFileSync(`${l.node(n).sshdHostKey}.pub`, 'utf8').trim().split(' ');
    return `${n.name},${n.address} ${type} ${key}`;
  });
  writeFileSync(l.knownHosts, `${lines.join('\n')}\n`, { mode: 0o644 });
}

export function sshdPid(node: TestbedNode, nl: NodeLayout): number | null {
  const pid = readPidFile(nl.sshdPidFile);
  return pid !== null && programOf(pid) === 'sshd' && pidInNetns(pid, node.name) ? pid : null;
}

export async function startSshd(tb: Testbed, node: TestbedNode, nl: NodeLayout, l: TestbedLayout, holder: number): Promise<number> {
  writeFileSync(nl.sshdConfig, renderSshdConfig(tb, node, nl, l), { mode: 0o644 });
  const running = sshdPid(node, nl);
  if (running !== null) return running;
  rmSync(nl.sshdPidFile, { force: true });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
  const [file, ...args] = inNode(holder, ['/usr/sbin/sshd', '-f', nl.sshdConfig]);
  await run(file as string, args, { timeoutMs: 30_000 });
  const pid = await pollUntil(() => sshdPid(node, nl), 10_000, 100);
  if (pid === null) throw new TestbedError('up', 'COMMAND_FAILED', `node ${node.name}: sshd wrote no live pid to ${nl.sshdPidFile} within 10 s`, { fault: 'node' });
  return pid;
}

/** The ssh argv (as NODE_AGENT_COMMAND's head) that reaches `{node}` as root with the testbed's key. */
export function sshArgv(l: TestbedLayout): string[] {
  return ['/usr/bin/ssh', '-i', l.clientKey, '-o', `UserKnownHostsFile=${l.knownHosts}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-T'];
}
