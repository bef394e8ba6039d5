import ssh2 from 'ssh2';
import type { Fault } from '../../core/errors.js';
import { fingerprint, hostKeyAlgorithms, keyType, parseHostKey } from '../../core/ssh/host-key.js';
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
 * recorded host key: only that key's algorithm is offered and the key bytes are compared.
 */
export function connectVm(t: VmTarget, limits: SshLimits, signal?: AbortSignal): Promise<VmSession> {
  const expected = parseHostKey(t.hostKey);
  const target = `${t.user}@${t.host}:${t.port}`;
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let offered: Buffer | null = null;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      client.removeAllListeners();
      client.on('error', () => undefined);
      return true;
    };
    const fail = (reason: string, fault: Fault): void => {
      if (!settle()) return;
      client.destroy();
      reject(offered
        ? new HostKeyRefusedError(t.vm, `${target} offered ${keyType(offered)} ${fingerprint(offered)}, expected ${expected.type} ${fingerprint(expected.blob)}`)
        : new SshConnectError(t.vm, target, reason, { fault }));
    };
    const onAbort = (): void => fail('cancelled', 'cancel');
    if (signal?.aborted) return fail('cancelled', 'cancel');
    signal?.addEventListener('abort', onAbort, { once: true });
    client
      .on('ready', () => {
        if (!settle()) return;
        resolve(new VmSession(client, t.vm, t.host));
      })
      .on('error', (err: Error) => fail(err.message, 'node'))
      .on('close', () => fail('the connection was closed during login', 'node'));
    try {
      client.connect({
        host: t.host,
        port: t.port,
        username: t.user,
        privateKey: t.privateKey,
        readyTimeout: limits.readyTimeoutMs,
        keepaliveInterval: limits.keepaliveIntervalMs,
        keepaliveCountMax: limits.keepaliveCountMax,
        algorithms: { serverHostKey: hostKeyAlgorithms(expected.type) },
        hostVerifier: (key: Buffer) => {
          if (key.equals(expected.blob)) return true;
          offered = Buffer.from(key);
          return false;
        },
      });
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err), 'node'); // ssh2 checks its options synchronously
    }
  });
}

