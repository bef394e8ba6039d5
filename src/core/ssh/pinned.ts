import ssh2 from 'ssh2';
import { hostKeyAlgorithms, parseHostKey } from './host-key.js';

/** A guest as every vTorque SSH connection sees it: the job user, the job key, the pinned host key. */
export interface PinnedTarget {
  readonly host: string;
  readonly port?: number;
  readonly user: string;
  readonly privateKey: Buffer;
  /** The host key vTorque generated for this guest (`type base64 [comment]`); no other is accepted. */
  readonly hostKey: string;
}

export interface PinnedOptions {
  /** Bound on TCP connect, key exchange and login. */
  readonly readyTimeoutMs: number;
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
  /** TCP connected (a sign of life for readiness waits). */
  readonly onConnect?: () => void;
  /** Key exchange done and the host key verified. */
  readonly onHandshake?: () => void;
  /** Ends the attempt at once (the client is destroyed; the promise rejects with reason 'cancelled'). */
  readonly signal?: AbortSignal;
}

/** Why no session came up. `offered` is set when the guest proved another host key than the pinned one. */
export class PinnedConnectError extends Error {
  readonly offered: Buffer | null;
  /** The socket error's code (ECONNREFUSED, EHOSTUNREACH, …) when there was one. */
  readonly code: string | null;
  constructor(reason: string, offered: Buffer | null, code: string | null) {
    super(reason);
    this.name = 'PinnedConnectError';
    this.offered = offered;
    this.code = code;
  }
}

/**
 * Log in to a guest with the host key pinned: only the pinned key's algorithm is offered and the
 * key bytes are compared, so nothing else is ever trusted. The one ssh2 connect of the code base
 * (readiness, the node file, the job runner). Resolves with the ready client, which the caller ends.
 */
export function openPinned(target: PinnedTarget, opts: PinnedOptions): Promise<ssh2.Client> {
  const expected = parseHostKey(target.hostKey);
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let offered: Buffer | null = null;
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      client.removeAllListeners();
      client.on('error', () => undefined);
      return true;
    };
    const fail = (reason: string, code: string | null = null): void => {
      if (!settle()) return;
      client.destroy();
      reject(new PinnedConnectError(reason, offered, code));
    };
    const onAbort = (): void => fail('cancelled');
    if (opts.signal?.aborted) return fail('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    client
      .on('connect', () => opts.onConnect?.())
      .on('handshake', () => opts.onHandshake?.())
      .on('ready', () => {
        if (settle()) resolve(client);
      })
      .on('error', (err: Error) => fail(err.message, (err as NodeJS.ErrnoException).code ?? null))
      .on('close', () => fail('the connection was closed during login'));
    try {
      client.connect({
        host: target.host,
        port: target.port ?? 22,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: opts.readyTimeoutMs,
        ...(opts.keepaliveIntervalMs !== undefined && { keepaliveInterval: opts.keepaliveIntervalMs }),
        ...(opts.keepaliveCountMax !== undefined && { keepaliveCountMax: opts.keepaliveCountMax }),
        algorithms: { serverHostKey: hostKeyAlgorithms(expected.type) },
        hostVerifier: (key: Buffer) => {
          if (key.equals(expected.blob)) return true;
          offered = Buffer.from(key);
          return false;
        },
      });
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err)); // ssh2 checks its options synchronously
    }
  });
}
