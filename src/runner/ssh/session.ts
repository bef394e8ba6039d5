import type { Client } from 'ssh2';
import type { Fault } from '../../core/errors.js';
import { SshLostError } from './errors.js';

/**
 * One authenticated connection to one VM. It turns the connection's end into one SshLostError
 * that every pending operation receives (`guard`, `onLost`), unless we closed it ourselves.
 */
export class VmSession {
  readonly vm: string;
  readonly host: string;
  readonly client: Client;
  #lost: SshLostError | null = null;
  #lastError: string | null = null;
  #closing = false;
  readonly #watchers = new Set<(err: SshLostError) => void>();

  constructor(client: Client, vm: string, host: string) {
    this.client = client;
    this.vm = vm;
    this.host = host;
    client.on('error', (err: Error) => {
      this.#lastError ??= err.message;
    });
    client.on('close', () => this.#markLost(this.#closing ? 'the session was closed' : (this.#lastError ?? 'the connection was closed by the remote side'), 'node'));
  }

  /** Set once the connection is gone (or being closed by us). */
  get lost(): SshLostError | null {
    return this.#lost;
  }

  /** Call `fn` when the connection goes (at once, asynchronously, when it already has); returns the unsubscribe. */
  onLost(fn: (err: SshLostError) => void): () => void {
    if (this.#lost) {
      const err = this.#lost;
      queueMicrotask(() => fn(err));
      return () => undefined;
    }
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  /** A promise that also rejects with SshLostError when the connection goes before it settles. */
  guard<T>(start: (resolve: (value: T) => void, reject: (err: unknown) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const stop = this.onLost(reject);
      try {
        start(
          (value) => (stop(), resolve(value)),
          (err) => (stop(), reject(this.#lost ?? err)),
        );
      } catch (err) {
        stop();
        reject(this.#lost ?? err);
      }
    });
  }

  /** Close politely (we are done). */
  end(): void {
    this.#closing = true;
    this.#markLost('the session was closed', 'node');
    this.client.end();
  }

  /** Drop the connection at once; pending operations fail with `reason`, whose fault `fault` is (a cancel, mostly). */
  destroy(reason: string, fault: Fault): void {
    this.#markLost(reason, fault);
    this.client.destroy();
  }

  #markLost(reason: string, fault: Fault): void {
    if (this.#lost) return;
    this.#lost = new SshLostError(this.vm, this.host, reason, { fault });
    const watchers = [...this.#watchers];
    this.#watchers.clear();
    for (const w of watchers) w(this.#lost);
  }
}
