import { join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { readFileNoFollow, setOwnerMode, writeFileExclusive, type Owner } from '../../core/fs/index.js';
import { need, TIMEOUT_MS } from './tools.js';
import type { PrepareTools } from './types.js';

const ED25519_PUBLIC = /^ssh-ed25519 [A-Za-z0-9+/]+={0,3}(?: [^\0-\x1f\x7f]{0,256})?$/;

function keygen(tools: PrepareTools, file: string, comment: string): Promise<unknown> {
  return run(need(tools, 'sshKeygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { timeoutMs: TIMEOUT_MS.short });
}

function readPublic(file: string): string {
  const line = readFileNoFollow(file, 4096).trim();
  if (!ED25519_PUBLIC.test(line)) throw new VtorqueError('INTERNAL', `${file}: ssh-keygen wrote no ssh-ed25519 public key line`, { fault: 'node' });
  return line;
}

/** `ssh-ed25519 AAAA…` without the comment. */
export function keyOnly(line: string): string {
  return line.split(' ').slice(0, 2).join(' ');
}

/** The job's user key in the (root-owned) ssh dir, handed to the owner: private 0600, public 0644. */
export async function generateUserKey(sshDir: string, jobId: string, owner: Owner, tools: PrepareTools): Promise<{ path: string; publicKey: string }> {
  const path = join(sshDir, 'id_ed25519');
  await keygen(tools, path, `vtorque-${jobId}`);
  // Read while still root's: once chowned, the owner could rewrite the file under us.
  const publicKey = readPublic(`${path}.pub`);
  setOwnerMode(path, owner, 0o600);
  setOwnerMode(`${path}.pub`, owner, 0o644);
  return { path, publicKey };
}

export interface HostKey {
  readonly privatePath: string;
  readonly privateKey: string;
  readonly publicKey: string;
}

/** A fresh host key for one VM, root-only; its private part goes into the seed, then is deleted. */
export async function generateHostKey(vmDir: string, comment: string, tools: PrepareTools): Promise<HostKey> {
  const privatePath = join(vmDir, 'ssh_host_ed25519_key');
  await keygen(tools, privatePath, comment);
  setOwnerMode(privatePath, null, 0o600);
  setOwnerMode(`${privatePath}.pub`, null, 0o644);
  return { privatePath, privateKey: readFileNoFollow(privatePath, 16384), publicKey: readPublic(`${privatePath}.pub`) };
}

/** `<vm name> ssh-ed25519 AAAA…` per VM: readiness matches the key, not the (unknown) IP. */
export function writeKnownHosts(path: string, entries: readonly { readonly name: string; readonly key: string }[]): void {
  for (const e of entries) {
    if (!/^[A-Za-z0-9._-]+$/.test(e.name)) throw new VtorqueError('INTERNAL', `known_hosts: bad host name ${JSON.stringify(e.name)}`, { fault: 'node' });
  }
  writeFileExclusive(path, entries.map((e) => `${e.name} ${keyOnly(e.key)}\n`).join(''), 0o644);
}
