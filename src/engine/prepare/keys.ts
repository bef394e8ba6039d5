import { join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { readFileNoFollow, setOwnerMode, writeFileExclusive, type Owner } from '../../core/fs/index.js';
import { keyOnly } from '../../core/ssh/host-key.js';
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

/** A job's user key as a node holds it: ssh/id_ed25519 (and .pub), the owner's. */
export interface UserKey {
  readonly path: string;
  readonly publicKey: string;
  /** The private key (OpenSSH format) as written, read while the file was still root's. */
  readonly privateKey: Buffer;
}

/** Longest private key a node accepts from the head (an ed25519 one in OpenSSH format is ~0.4 KiB). */
export const MAX_USER_KEY_BYTES = 16384;

/** The job's user key in the (root-owned) ssh dir, handed to the owner: private 0600, public 0644. */
export async function generateUserKey(sshDir: string, jobId: string, owner: Owner, tools: PrepareTools): Promise<UserKey> {
  const path = join(sshDir, 'id_ed25519');
  await keygen(tools, path, `vtorque-${jobId}`);
  // Read while still root's: once chowned, the owner could rewrite the file under us.
  const key = { path, publicKey: readPublic(`${path}.pub`), privateKey: Buffer.from(readFileNoFollow(path, MAX_USER_KEY_BYTES)) };
  handToOwner(path, owner);
  return key;
}

/**
 * The job's user key as the head gave it (the node of rank 0 generated it), written where
 * generateUserKey writes one; its public half is derived from it here, so every node's VMs
 * authorize the one key the job's VMs then use to reach each other.
 */
export async function writeUserKey(sshDir: string, privateKey: Buffer, owner: Owner, tools: PrepareTools): Promise<UserKey> {
  const path = join(sshDir, 'id_ed25519');
  if (privateKey.length === 0 || privateKey.length > MAX_USER_KEY_BYTES) {
    throw new VtorqueError('INTERNAL', `the job key from the head is ${privateKey.length} bytes, expected 1 to ${MAX_USER_KEY_BYTES}`, { fault: 'node' });
  }
  writeFileExclusive(path, privateKey, 0o600);
  // -P '': a key with a passphrase fails here instead of prompting.
  const derived = await run(need(tools, 'sshKeygen'), ['-y', '-P', '', '-f', path], { timeoutMs: TIMEOUT_MS.short }).catch((err: unknown) => {
    throw new VtorqueError('INTERNAL', 'the job key from the head is not an OpenSSH private key (ssh-keygen -y failed)', { cause: err, fault: 'node' });
  });
  const publicKey = derived.stdout.trim();
  if (!ED25519_PUBLIC.test(publicKey)) throw new VtorqueError('INTERNAL', 'the job key from the head is not an ssh-ed25519 key', { fault: 'node' });
  writeFileExclusive(`${path}.pub`, `${publicKey}\n`, 0o644);
  handToOwner(path, owner);
  return { path, publicKey, privateKey };
}

function handToOwner(path: string, owner: Owner): void {
  setOwnerMode(path, owner, 0o600);
  setOwnerMode(`${path}.pub`, owner, 0o644);
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
