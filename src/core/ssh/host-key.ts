import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { VtorqueError } from '../errors.js';

/** `ssh-ed25519 AAAA…` without the comment. */
export function keyOnly(line: string): string {
  return line.split(' ').slice(0, 2).join(' ');
}

/** A guest's host key as vTorque generated it: what every SSH connection to that guest must see. */
export interface ExpectedKey {
  readonly type: string;
  readonly blob: Buffer;
}

/** `type base64 [comment]` → the key blob, checked to be of the type it claims. */
export function parseHostKey(line: string): ExpectedKey {
  const [type, b64] = line.trim().split(/\s+/);
  const blob = Buffer.from(b64 ?? '', 'base64');
  if (!type || !b64 || blob.length < 8 || keyType(blob) !== type) {
    throw new VtorqueError('INTERNAL', `expected host key ${JSON.stringify(line.slice(0, 40))}…: not an OpenSSH public key line`, { fault: 'node' });
  }
  return { type, blob };
}

/** The algorithm name inside an SSH public key blob (a uint32 length, then the name). */
export function keyType(blob: Buffer): string {
  if (blob.length < 4) return '?';
  const len = blob.readUInt32BE(0);
  return len > 0 && len < 64 && blob.length >= 4 + len ? blob.subarray(4, 4 + len).toString('latin1') : '?';
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Only the expected key's algorithm(s) are offered, so a server holding several host keys cannot
 * present another one (and an RSA key signs with rsa-sha2-*, SHA-1 only as a last resort).
 */
export function hostKeyAlgorithms(type: string): ServerHostKeyAlgorithm[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [type as ServerHostKeyAlgorithm];
}
