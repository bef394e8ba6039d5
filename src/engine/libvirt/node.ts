import { setTimeout as sleep } from 'node:timers/promises';
import { DomainState, Hypervisor, type Domain } from '@unraid/libvirt';
import { withDeadline } from './deadline.js';
import { LibvirtError, type LibvirtOp } from './errors.js';
import { silentLog, type EngineLog } from './log.js';

export type DomainRunState = 'running' | 'shutoff' | 'other' | 'missing';

/**
 * The libvirt operations the engine uses, by domain name. Every failure is a LibvirtError
 * carrying op and domain; `notFound` on it means the domain is gone.
 */
export interface LibvirtNode {
  readonly uri: string;
  listDomains(): Promise<{ name: string; active: boolean }[]>;
  xmlOf(name: string): Promise<string>;
  define(xml: string): Promise<void>;
  start(name: string): Promise<void>;
  /** ACPI shutdown request; returns at once, the guest stops later (poll `state`). */
  shutdown(name: string): Promise<void>;
  destroy(name: string): Promise<void>;
  undefine(name: string): Promise<void>;
  state(name: string): Promise<DomainRunState>;
  /** CPU time its qemu has used since it started, in ms; null when the domain is not running or gone. */
  cpuTimeMs(name: string): Promise<number | null>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Connection attempts before giving up (default 4). */
  readonly attempts?: number;
  /** Pause before the 2nd attempt; doubled after each failure (default 250 ms). */
  readonly retryDelayMs?: number;
  /** Bound on one connectOpen call (default 10 s). */
  readonly attemptTimeoutMs?: number;
  readonly log?: EngineLog;
}

/** Open `uri` with a bounded retry (a busy libvirtd may refuse for a moment). */
export async function openLibvirt(uri: string, options: OpenOptions = {}): Promise<LibvirtNode> {
  return new BindingNode(uri, await openHypervisor(uri, options), options);
}

async function openHypervisor(uri: string, options: OpenOptions): Promise<Hypervisor> {
  const { attempts = 4, retryDelayMs = 250, attemptTimeoutMs = 10_000, log = silentLog } = options;
  let delay = retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    const hv = new Hypervisor({ uri });
    try {
      const opened = hv.connectOpen().catch((cause: unknown) => {
        throw new LibvirtError({ op: 'open', domain: null, uri, cause });
      });
      await withDeadline(opened, attemptTimeoutMs, `libvirt open ${uri}`, () => void hv.connectClose().catch(() => undefined));
      return hv;
    } catch (err) {
      if (attempt >= attempts) throw err;
      log.warn({ uri, attempt, err: (err as Error).message }, 'libvirt connection failed, retrying');
      await sleep(delay);
      delay *= 2;
    }
  }
}

/**
 * libvirt's messages when the daemon went away under an open connection (restarted, crashed):
 * the binding passes only the text through, so the text is what we can match.
 */
const CONNECTION_LOST = /client socket is closed|broken pipe|connection reset|end of file while reading|cannot recv data|cannot write data|invalid connection pointer|not connected|connection (is )?closed/i;

export function isConnectionLost(err: unknown): boolean {
  const text = err instanceof LibvirtError ? err.reason : err instanceof Error ? err.message : String(err);
  return CONNECTION_LOST.test(text);
}

const STATES: Partial<Record<DomainState, DomainRunState>> = {
  [DomainState.RUNNING]: 'running',
  [DomainState.BLOCKED]: 'running',
  [DomainState.SHUTOFF]: 'shutoff',
};

/** Touched after each domain call so the handle stays reachable until then. */
const keepAlive = new Set<object>();

/** LibvirtNode over one @unraid/libvirt connection; every call runs on libvirt's worker threads. */
class BindingNode implements LibvirtNode {
  private closed = false;
  private reopening: Promise<void> | null = null;

  constructor(
    readonly uri: string,
    private hv: Hypervisor,
    private readonly options: OpenOptions,
  ) {}

  /**
   * One libvirt call. When the daemon went away under us (a libvirtd restart mid-boot), reopen the
   * connection once — running domains survive a restart — and retry the call once: every
   * operation the engine makes is safe to repeat (`start` of a running domain is done, teardown
   * treats "gone" and "not running" as done).
   */
  private async call<T>(op: LibvirtOp, domain: string | null, fn: () => Promise<T>): Promise<T> {
    const wrap = (cause: unknown): LibvirtError => (cause instanceof LibvirtError ? cause : new LibvirtError({ op, domain, uri: this.uri, cause }));
    try {
      return await fn();
    } catch (cause) {
      if (this.closed || op === 'close' || !isConnectionLost(cause)) throw wrap(cause);
      await this.reopen(op, cause);
      try {
        return await fn();
      } catch (again) {
        throw wrap(again);
      }
    }
  }

  /** Single flight: every call that saw the connection drop waits for the same reopen. */
  private reopen(op: LibvirtOp, cause: unknown): Promise<void> {
    if (this.reopening === null) {
      const log = this.options.log ?? silentLog;
      log.warn({ uri: this.uri, op, err: cause instanceof Error ? cause.message : String(cause) }, 'libvirt connection lost; reconnecting');
      const old = this.hv;
      this.reopening = openHypervisor(this.uri, { ...this.options, attempts: Math.max(8, this.options.attempts ?? 0) })
        .then((hv) => {
          this.hv = hv;
          log.info({ uri: this.uri }, 'libvirt connection reopened');
          void old.connectClose().catch(() => undefined);
        })
        .finally(() => {
          this.reopening = null;
        });
    }
    return this.reopening;
  }

  private async onDomain<T>(op: LibvirtOp, name: string, fn: (d: Domain) => Promise<T>): Promise<T> {
    return this.call(op, name, async () => {
      const d = await this.hv.domainLookupByName(name);
      try {
        return await fn(d);
      } finally {
        // Hold the handle until the call is done: the binding's workers keep a bare Domain* and
        // free virDomainPtr when its JS object is collected, so a collection mid-call (many
        // concurrent jobs) made libvirt answer "invalid domain pointer" for a live domain.
        keepAlive.add(d);
        keepAlive.delete(d);
      }
    });
  }

  listDomains(): Promise<{ name: string; active: boolean }[]> {
    return this.call('list', null, async () => {
      const domains = await this.hv.connectListAllDomains();
      // Name and id are read from the handle the listing returned: no second round trip, no race.
      // An inactive domain has no id: the binding resolves undefined (its typings say null).
      try {
        return await Promise.all(domains.map(async (d) => ({ name: await d.getName(), active: (await d.getID()) != null })));
      } finally {
        keepAlive.add(domains); // the handles stay reachable until every call on them is done (see onDomain)
        keepAlive.delete(domains);
      }
    });
  }

  xmlOf(name: string): Promise<string> {
    return this.onDomain('xml', name, (d) => d.getXMLDesc());
  }

  define(xml: string): Promise<void> {
    return this.call('define', nameIn(xml), async () => void (await this.hv.domainDefineXML(xml)));
  }

  /** Idempotent: a domain already running is started (a start retried after a lost connection may have gone through). */
  async start(name: string): Promise<void> {
    try {
      await this.onDomain('start', name, (d) => d.create());
    } catch (err) {
      if (!(err instanceof LibvirtError && /already running/i.test(err.reason))) throw err;
    }
  }

  shutdown(name: string): Promise<void> {
    return this.onDomain('shutdown', name, (d) => d.shutdown());
  }

  destroy(name: string): Promise<void> {
    return this.onDomain('destroy', name, (d) => d.destroy());
  }

  undefine(name: string): Promise<void> {
    return this.onDomain('undefine', name, (d) => d.undefine());
  }

  async state(name: string): Promise<DomainRunState> {
    try {
      return await this.onDomain('state', name, async (d) => STATES[(await d.getInfo()).state] ?? 'other');
    } catch (err) {
      if (err instanceof LibvirtError && err.notFound) return 'missing';
      throw err;
    }
  }

  async cpuTimeMs(name: string): Promise<number | null> {
    try {
      return await this.onDomain('cpu', name, async (d) => {
        const info = await d.getInfo();
        // virDomainInfo.cpuTime is in ns; a domain that does not run has no qemu burning it.
        return STATES[info.state] === 'running' ? info.cpuTime / 1e6 : null;
      });
    } catch (err) {
      if (err instanceof LibvirtError && err.notFound) return null;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.call('close', null, () => this.hv.connectClose());
  }
}

/** The `<name>` of a domain document, for error messages only. */
function nameIn(xml: string): string | null {
  return /<name>([^<]{1,200})<\/name>/.exec(xml)?.[1] ?? null;
}
