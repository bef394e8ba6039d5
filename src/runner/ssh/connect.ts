import { fingerprint, keyType, parseHostKey } from '../../core/ssh/host-key.js';
import { openPinned, PinnedConnectError } from '../../core/ssh/pinned.js';
import { HostKeyRefusedError, SshConnectError } from './errors.js';
import { VmSession } from './session.js';

export interface VmTarget {
  /** VM name, for messages. */
  readonly vm: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: Buffer;
  /** The host key recorded for this VM (`type base64 [comment]`); no other key is accepted. */
  readonly hostKey: string;
}

export interface SshLimits {
  /** Bound on TCP connect, key exchange and login. */
  readonly readyTimeoutMs: number;
  /** A silent peer (crashed VM) counts as lost after interval × countMax. */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
}

/**
 * Log in to a VM as the job user with the per-job key. The server must prove it holds exactly the
 * recorded host key (openPinned: only that key's algorithm is offered and the key bytes compared).
 */
export async function connectVm(t: VmTarget, limits: SshLimits, signal?: AbortSignal): Promise<VmSession> {
  const target = `${t.user}@${t.host}:${t.port}`;
  try {
    const client = await openPinned(t, { readyTimeoutMs: limits.readyTimeoutMs, keepaliveIntervalMs: limits.keepaliveIntervalMs, keepaliveCountMax: limits.keepaliveCountMax, ...(signal ? { signal } : {}) });
    return new VmSession(client, t.vm, t.host);
  } catch (err) {
    if (!(err instanceof PinnedConnectError)) throw err;
    if (err.offered) {
      const expected = parseHostKey(t.hostKey);
      throw new HostKeyRefusedError(t.vm, `${target} offered ${keyType(err.offered)} ${fingerprint(err.offered)}, expected ${expected.type} ${fingerprint(expected.blob)}`);
    }
    throw new SshConnectError(t.vm, target, err.message, { fault: err.message === 'cancelled' ? 'cancel' : 'node' });
  }
}
