import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { VtorqueError } from '../../core/errors.js';
import { parseOwnerMetadata } from '../../core/libvirt/index.js';
import { isNotFound, type DomainRunState, type EngineLog, type LibvirtNode } from '../libvirt/index.js';
import { domainPrefix } from '../naming.js';
import { domainMacs } from '../observe.js';

export interface TeardownOptions {
  /** Domains to shut down cleanly first (those with a persistent disk). */
  readonly graceful: ReadonlySet<string>;
  readonly shutdownTimeoutMs: number;
  readonly parallel: number;
  readonly log: EngineLog;
  /** Poll interval while waiting for a graceful shutdown (default 200 ms). */
  readonly pollMs?: number;
}

export interface TeardownResult {
  /** This job's domains that are now gone (including those already gone when we got to them). */
  readonly removed: string[];
  /** Domains matching only one of prefix and owner metadata: left alone. */
  readonly skipped: string[];
  /** MAC addresses of the job's domains (lower case), so their ARP entries can go too. */
  readonly macs: string[];
}

/** Some of the job's VMs could not be removed: the node's. */
export class TeardownError extends VtorqueError {
  readonly failures: readonly { readonly name: string; readonly error: Error }[];
  readonly result: TeardownResult;
  constructor(failures: readonly { name: string; error: Error }[], result: TeardownResult) {
    super('COMMAND_FAILED', `teardown left ${failures.length} VM(s): ${failures.map((f) => `${f.name}: ${f.error.message}`).join('; ')}`, { cause: failures[0]?.error, fault: 'node' });
    this.failures = failures;
    this.result = result;
  }
}

/**
 * Remove every domain of `jobId` on this node, and nothing else: a domain is the job's only when
 * its name starts with domainPrefix(jobId) AND its XML carries our owner element for that job.
 * Idempotent: a domain already gone counts as removed. Every VM is tried; failures are reported
 * together at the end in a TeardownError.
 */
export async function teardownJob(node: LibvirtNode, jobId: string, opts: TeardownOptions): Promise<TeardownResult> {
  const failures: { name: string; error: Error }[] = [];
  const { selected, skipped, macs } = await selectJobDomains(node, jobId, opts, failures);
  const limit = pLimit(Math.max(1, opts.parallel));
  const removed: string[] = [];
  await Promise.all(
    selected.map((name) =>
      limit(async () => {
        try {
          await removeDomain(node, name, opts.graceful.has(name), opts);
          removed.push(name);
          opts.log.info({ phase: 'teardown', vm: name }, 'VM removed');
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          failures.push({ name, error });
          opts.log.warn({ phase: 'teardown', vm: name, err: error.message }, 'VM removal failed');
        }
      }),
    ),
  );
  const result = { removed: removed.sort(), skipped, macs };
  if (failures.length > 0) throw new TeardownError(failures, result);
  return result;
}

/** Tries before a domain whose XML cannot be read counts as a failure. */
const XML_READS = 3;

/**
 * A domain's XML. A read that fails for another reason than "no such domain" is tried again after
 * a short pause before the domain counts as one teardown could not look at (and so left): a
 * transient libvirt error must not leave a job's VM behind. A domain gone by then is "not found".
 */
async function readXml(node: LibvirtNode, name: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await node.xmlOf(name);
    } catch (err) {
      if (isNotFound(err) || attempt >= XML_READS) throw err;
      await sleep(50 * attempt);
    }
  }
}

/**
 * Reads the XML of every domain, so a domain carrying our owner element under another name is
 * reported too. A domain with our prefix whose XML cannot be read is a failure (it may be ours);
 * any other unreadable domain cannot be ours and is ignored.
 */
async function selectJobDomains(
  node: LibvirtNode,
  jobId: string,
  opts: TeardownOptions,
  failures: { name: string; error: Error }[],
): Promise<{ selected: string[]; skipped: string[]; macs: string[] }> {
  const prefix = domainPrefix(jobId);
  const all = await node.listDomains();
  const limit = pLimit(Math.max(1, opts.parallel));
  const selected: string[] = [];
  const skipped: string[] = [];
  const macs = new Set<string>();
  await Promise.all(
    all.map(({ name }) =>
      limit(async () => {
        const byName = name.startsWith(prefix);
        const xml = await readXml(node, name).catch((err: unknown) => {
          // Gone since the listing: nothing to do.
          if (byName && !isNotFound(err)) failures.push({ name, error: err instanceof Error ? err : new Error(String(err)) });
          return null;
        });
        if (xml === null) return;
        const byOwner = parseOwnerMetadata(xml)?.job === jobId;
        if (byName && byOwner) {
          selected.push(name);
          for (const mac of domainMacs(xml)) macs.add(mac);
        }
        else if (byName || byOwner) {
          skipped.push(name);
          opts.log.warn({ phase: 'teardown', vm: name, job: jobId, nameMatches: byName, ownerMatches: byOwner }, 'domain matches the job by only one of name and owner metadata; left alone');
        }
      }),
    ),
  );
  return { selected: selected.sort(), skipped: skipped.sort(), macs: [...macs].sort() };
}

async function removeDomain(node: LibvirtNode, name: string, graceful: boolean, opts: TeardownOptions): Promise<void> {
  let state = await node.state(name);
  if (state === 'missing') return;
  if (graceful && state === 'running') state = await shutdownAndWait(node, name, opts);
  if (state !== 'shutoff' && state !== 'missing') {
    await node.destroy(name).catch(async (err: unknown) => {
      // It may have stopped (or gone) between our look and the destroy.
      const now = await node.state(name);
      if (now !== 'shutoff' && now !== 'missing') throw err;
    });
  }
  await node.undefine(name).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

async function shutdownAndWait(node: LibvirtNode, name: string, opts: TeardownOptions): Promise<DomainRunState> {
  const started = performance.now();
  try {
    await node.shutdown(name);
  } catch (err) {
    opts.log.warn({ phase: 'shutdown', vm: name, err: (err as Error).message }, 'graceful shutdown request failed; destroying');
    return node.state(name);
  }
  for (;;) {
    const state = await node.state(name);
    const waited = Math.round(performance.now() - started);
    if (state === 'shutoff' || state === 'missing') {
      opts.log.info({ phase: 'shutdown', vm: name, elapsedMs: waited }, 'VM shut down');
      return state;
    }
    if (waited >= opts.shutdownTimeoutMs) {
      opts.log.warn({ phase: 'shutdown', vm: name, elapsedMs: waited }, 'VM did not shut down in time; destroying');
      return state;
    }
    await sleep(opts.pollMs ?? 200);
  }
}
