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
  const { attempts = 4, retryDelayMs = 250, attemptTimeoutMs = 10_000, log = silentLog } = options;
  let delay = retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    const hv = new Hypervisor({ uri });
    try {
      const opened = hv.connectOpen().catch((cause: unknown) => {
        throw new LibvirtError({ op: 'open', domain: null, uri, cause });
      });
      await withDeadline(opened, attemptTimeoutMs, `libvirt open ${uri}`, () => void hv.connectClose().catch(() => undefined));
      return new BindingNode(uri, hv);
    } catch (err) {
      if (attempt >= attempts) throw err;
      log.warn({ uri, attempt, err: (err as Error).message }, 'libvirt connection failed, retrying');
      await sleep(delay);
      delay *= 2;
    }
  }
}

const STATES: Partial<Record<DomainState, DomainRunState>> = {
  [DomainState.RUNNING]: 'running',
  [DomainState.BLOCKED]: 'running',
  [DomainState.SHUTOFF]: 'shutoff',
};

/** LibvirtNode over one @unraid/libvirt connection; every call runs on libvirt's worker threads. */
class BindingNode implements LibvirtNode {
  private closed = false;

  constructor(
    readonly uri: string,
    private readonly hv: Hypervisor,
  ) {}

  private async call<T>(op: LibvirtOp, domain: string | null, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      throw cause instanceof LibvirtError ? cause : new LibvirtError({ op, domain, uri: this.uri, cause });
    }
  }

  private async onDomain<T>(op: LibvirtOp, name: string, fn: (d: Domain) => Promise<T>): Promise<T> {
    return this.call(op, name, async () => fn(await this.hv.domainLookupByName(name)));
  }

  listDomains(): Promise<{ name: string; active: boolean }[]> {
    return this.call('list', null, async () => {
      const domains = await this.hv.connectListAllDomains();
      // Name and id are read from the handle the listing returned: no second round trip, no race.
      return Promise.all(domains.map(async (d) => ({ name: await d.getName(), active: (await d.getID()) !== null })));
    });
  }

  xmlOf(name: string): Promise<string> {
    return this.onDomain('xml', name, (d) => d.getXMLDesc());
  }

  define(xml: string): Promise<void> {
    return this.call('define', nameIn(xml), async () => void (await this.hv.domainDefineXML(xml)));
  }

  start(name: string): Promise<void> {
    return this.onDomain('start', name, (d) => d.create());
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
