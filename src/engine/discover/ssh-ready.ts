import type ssh2 from 'ssh2';
import { fingerprint, keyType, parseHostKey } from '../../core/ssh/host-key.js';
import { openPinned, PinnedConnectError } from '../../core/ssh/pinned.js';
import { VtorqueError } from '../../core/errors.js';
import type { EngineLog } from '../libvirt/index.js';
import { pause } from './pause.js';

export interface WaitForSshOptions {
  readonly host: string;
  readonly port?: number;
  readonly user: string;
  readonly privateKey: Buffer;
  /** The guest's host key as in known_hosts / a .pub file: `ssh-ed25519 AAAA… [comment]`. */
  readonly hostKey: string;
  readonly deadlineMs: number;
  /** Bound on one attempt (TCP connect, key exchange, login, `true`). */
  readonly connectTimeoutMs: number;
  readonly log: EngineLog;
  /** VM name for messages (default: host). */
  readonly vm?: string;
  /** Least time between the starts of two attempts (default 500 ms). */
  readonly retryMs?: number;
  readonly signal?: AbortSignal;
  /** Why the guest counts as dead now (no sign of life for its quiet limit), or null: asked before every attempt. */
  readonly dead?: () => string | null;
  /** An attempt got further than any before (SSH_STAGES: refused, connected, host key verified, login): a sign of life. */
  readonly onProgress?: (stage: string) => void;
  /** Every attempt's outcome, for the progress lines. */
  readonly onAttempt?: (result: string) => void;
  /**
   * Every attempt that logged in, whatever the ready command then said: the guest runs sshd
   * and takes our key, so it is alive even while cloud-init goes on for minutes (packages under
   * emulation). A sign of life each time, unlike onProgress, which reports only a new stage.
   */
  readonly onLoggedIn?: () => void;
  /**
   * Give up on this address (HostUnreachableError, so the caller resolves it again) once every
   * attempt for this long, and at least 3, ended in EHOSTUNREACH: nothing answers there.
   */
  readonly unreachableAfterMs?: number;
  /**
   * What must exit 0 after login for the guest to count as ready (default `true`; null: the login
   * alone, one guest process fewer under emulation, for a guest set up before sshd). A VM cloud-init
   * starts is ready only once cloud-init is done (CLOUD_INIT_DONE): its later stages install the
   * packages, set the time zone and time servers, and may restart sshd.
   */
  readonly readyCommand?: string | null;
}

/** Exit 0 once cloud-init's last stage has finished for this instance (cloud-final writes the file). */
export const CLOUD_INIT_DONE = 'test -e /var/lib/cloud/instance/boot-finished';

/** The guest offered another host key than the one we gave it: never retried, never trusted. The node's (its network or guest), not the job's. */
export class HostKeyMismatchError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, message: string) {
    super('COMMAND_FAILED', `host key mismatch for ${vm}: ${message}`, { fault: 'node' });
    this.vm = vm;
  }
}

/** The guest did not let us log in in time: the node's (a guest that did not come up). */
export class SshNotReadyError extends VtorqueError {
  readonly vm: string;
  readonly lastError: string;
  constructor(vm: string, target: string, waitedMs: number, attempts: number, lastError: string) {
    super('COMMAND_FAILED', `SSH to ${vm} (${target}) not ready after ${waitedMs} ms and ${attempts} attempt(s): ${lastError}`, { fault: 'node' });
    this.vm = vm;
    this.lastError = lastError;
  }
}

/**
 * The address answered "host unreachable" to every attempt for a while: nothing holds it (a
 * stale lease, a guest that moved). The caller resolves the address again; the node's.
 */
export class HostUnreachableError extends VtorqueError {
  readonly vm: string;
  readonly host: string;
  constructor(vm: string, host: string, forMs: number, attempts: number) {
    super('COMMAND_FAILED', `${vm}: ${host} answered "host unreachable" (EHOSTUNREACH) to ${attempts} attempt(s) over ${(forMs / 1000).toFixed(1)} s`, { fault: 'node' });
    this.vm = vm;
    this.host = host;
  }
}

/** How far an attempt got, in order: each later one shows more of the guest. */
export const SSH_STAGES = ['port 22 refused (the guest kernel answers)', 'TCP connected', 'host key verified', 'login'] as const;

type Attempt = { kind: 'ok' } | { kind: 'retry'; reason: string; timedOut?: true; unreachable?: true } | { kind: 'mismatch'; offered: Buffer };

/**
 * Wait until `user` can log in to the guest with `privateKey` and run `true`, retrying every
 * ~retryMs (port 22 opens a few seconds before cloud-init installs the key). The server must
 * prove it holds exactly `hostKey`; any other key fails at once with HostKeyMismatchError.
 */
export async function waitForSsh(opts: WaitForSshOptions): Promise<{ attempts: number; elapsedMs: number }> {
  const expected = parseHostKey(opts.hostKey);
  const vm = opts.vm ?? opts.host;
  const port = opts.port ?? 22;
  const target = `${opts.user}@${opts.host}:${port}`;
  const started = performance.now();
  const waited = () => Math.round(performance.now() - started);
  let last = 'no attempt made';
  let best = -1;
  const reached = (stage: number): void => {
    if (stage <= best) return;
    best = stage;
    opts.onProgress?.(SSH_STAGES[stage] as string);
  };
  let unreachableSince: number | null = null;
  let unreachableCount = 0;
  for (let attempts = 0; ; ) {
    opts.signal?.throwIfAborted();
    const left = opts.deadlineMs - waited();
    if (left <= 0) throw new SshNotReadyError(vm, target, waited(), attempts, last);
    const dead = opts.dead?.();
    if (dead) throw new SshNotReadyError(vm, target, waited(), attempts, `${last}; ${dead}`);
    attempts++;
    const limitMs = Math.min(opts.connectTimeoutMs, left);
    const attemptStart = performance.now();
    const result = await attempt(opts, port, limitMs, reached);
    opts.onAttempt?.(result.kind === 'ok' ? 'login works' : result.kind === 'mismatch' ? 'host key mismatch' : result.reason);
    if (result.kind === 'retry' && result.unreachable) {
      unreachableSince ??= attemptStart;
      unreachableCount++;
      const forMs = performance.now() - unreachableSince;
      if (opts.unreachableAfterMs !== undefined && unreachableCount >= 3 && forMs >= opts.unreachableAfterMs) throw new HostUnreachableError(vm, opts.host, forMs, unreachableCount);
    } else {
      unreachableSince = null;
      unreachableCount = 0;
    }
    if (result.kind === 'ok') {
      opts.log.info({ phase: 'ssh', vm, attempts, elapsedMs: waited() }, 'SSH login works');
      return { attempts, elapsedMs: waited() };
    }
    if (result.kind === 'mismatch') {
      throw new HostKeyMismatchError(vm, `${target} offered ${keyType(result.offered)} ${fingerprint(result.offered)}, expected ${expected.type} ${fingerprint(expected.blob)}`);
    }
    // A last attempt cut short by the deadline tells less than the error before it.
    if (!(result.timedOut && limitMs < opts.connectTimeoutMs && attempts > 1)) last = result.reason;
    const wait = Math.min((opts.retryMs ?? 500) - (performance.now() - attemptStart), opts.deadlineMs - waited());
    if (wait > 0) await pause(wait, opts.signal);
  }
}

/**
 * One login attempt within `timeoutMs` (openPinned: the host key pinned), then the ready command
 * unless it is null. Every way it can end becomes an Attempt; nothing throws.
 */
async function attempt(opts: WaitForSshOptions, port: number, timeoutMs: number, reached: (stage: number) => void): Promise<Attempt> {
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);
  const late = (): Attempt => ({ kind: 'retry', reason: `no login within ${timeoutMs} ms`, timedOut: true });
  let client: ssh2.Client;
  try {
    client = await openPinned(
      { host: opts.host, port, user: opts.user, privateKey: opts.privateKey, hostKey: opts.hostKey },
      // Our own timer ends the attempt first.
      { readyTimeoutMs: timeoutMs + 1000, onConnect: () => reached(1), onHandshake: () => reached(2), signal: abort.signal },
    );
  } catch (err) {
    clearTimeout(timer);
    if (!(err instanceof PinnedConnectError)) return { kind: 'retry', reason: err instanceof Error ? err.message : String(err) };
    if (err.offered) return { kind: 'mismatch', offered: err.offered };
    if (timedOut) return late();
    if (err.code === 'ECONNREFUSED' || /\bECONNREFUSED\b/.test(err.message)) reached(0);
    if (err.code === 'EHOSTUNREACH' || /\bEHOSTUNREACH\b/.test(err.message)) return { kind: 'retry', reason: err.message, unreachable: true };
    return { kind: 'retry', reason: err.message === 'the connection was closed during login' ? 'connection closed' : err.message };
  }
  if (opts.readyCommand === null) {
    clearTimeout(timer);
    reached(3);
    opts.onLoggedIn?.();
    client.end();
    return { kind: 'ok' };
  }
  const command = opts.readyCommand ?? 'true';
  const result = await new Promise<Attempt>((resolve) => {
    let done = false;
    const finish = (a: Attempt): void => {
      if (done) return;
      done = true;
      resolve(a);
    };
    abort.signal.addEventListener('abort', () => finish(late()), { once: true });
    client.on('error', (err) => finish({ kind: 'retry', reason: `exec ${command}: ${err.message}` }));
    client.on('close', () => finish({ kind: 'retry', reason: 'connection closed' }));
    try {
      client.exec(command, (err, stream) => {
        if (err) return finish({ kind: 'retry', reason: `exec ${command}: ${err.message}` });
        let code: number | null = null;
        stream.on('exit', (c: number | null) => (code = c));
        stream.on('close', () => {
          // The login itself worked: a sign of life even while the ready check still says no.
          reached(3);
          opts.onLoggedIn?.();
          finish(code === 0 ? { kind: 'ok' } : { kind: 'retry', reason: command === CLOUD_INIT_DONE ? 'logged in; cloud-init not finished yet' : `"${command}" exited with ${code}` });
        });
        stream.resume();
        stream.stderr.resume();
      });
    } catch (err) {
      finish({ kind: 'retry', reason: `exec: ${(err as Error).message}` });
    }
  });
  clearTimeout(timer);
  client.removeAllListeners();
  client.on('error', () => undefined);
  if (result.kind === 'ok') client.end();
  else client.destroy();
  return result;
}


export { parseHostKey };
