import pLimit from 'p-limit';
import { VtorqueError } from '../../core/errors.js';
import { parseOwnerMetadata } from '../../core/libvirt/index.js';
import { DeadlineError, withDeadline, type EngineLog, type LibvirtNode } from '../libvirt/index.js';

export interface BootDomain {
  readonly name: string;
  readonly xml: string;
}

export interface BootOptions {
  /** Most VMs defined/started at once. */
  readonly parallel: number;
  /** One deadline for the whole boot, from the call; every step gets what is left of it. */
  readonly deadlineMs: number;
  readonly log: EngineLog;
  /** Monotonic clock in ms (tests may pass their own). */
  readonly now?: () => number;
}

export interface BootedVm {
  readonly name: string;
  /** ms after bootVms was called when the VM was started. */
  readonly startedMs: number;
}

export type BootPhase = 'define' | 'start';

export interface BootFailure {
  readonly name: string;
  readonly phase: BootPhase;
  readonly error: Error;
}

/** Some VMs did not come up; `booted` lists those that did (the caller tears the job down). Always the node's: libvirt refused a checked domain. */
export class BootError extends VtorqueError {
  readonly failures: readonly BootFailure[];
  readonly booted: readonly BootedVm[];
  constructor(failures: readonly BootFailure[], booted: readonly BootedVm[], total: number) {
    const list = failures.map((f) => `${f.name}: ${f.phase} failed: ${f.error.message}`).join('; ');
    super('COMMAND_FAILED', `boot failed for ${failures.length} of ${total} VM(s): ${list}`, { cause: failures[0]?.error, fault: 'node' });
    this.failures = failures;
    this.booted = booted;
  }
}

/**
 * Define and start every VM concurrently. Each VM tries to the end even when another fails;
 * then a BootError names every failed VM with libvirt's reason. A step that misses the deadline
 * is undone when libvirt answers late (undefine a late define, destroy a late start), so a
 * teardown that already ran is not outwitted.
 */
export async function bootVms(node: LibvirtNode, domains: readonly BootDomain[], opts: BootOptions): Promise<BootedVm[]> {
  const now = opts.now ?? (() => performance.now());
  const t0 = now();
  const elapsed = () => Math.round(now() - t0);
  const left = () => opts.deadlineMs - elapsed();
  for (const d of domains) {
    if (parseOwnerMetadata(d.xml) === null) throw new VtorqueError('INTERNAL', `domain ${d.name}: XML without vTorque owner metadata, refusing to define it`, { fault: 'node' });
  }
  const limit = pLimit(Math.max(1, opts.parallel));
  const failures: BootFailure[] = [];
  /** One libvirt call within what is left of the deadline; none is begun once it has passed. */
  const step = (what: string, call: () => Promise<void>, undo: () => Promise<void>): Promise<void> => {
    if (left() <= 0) return Promise.reject(new DeadlineError(what, opts.deadlineMs));
    return withDeadline(call(), left(), what, () => void undo().catch(() => undefined));
  };
  const bootOne = async (d: BootDomain): Promise<BootedVm> => {
    let phase: BootPhase = 'define';
    try {
      await step(`libvirt define ${d.name}`, () => node.define(d.xml), () => node.undefine(d.name));
      opts.log.info({ phase, vm: d.name, elapsedMs: elapsed() }, 'VM defined');
      phase = 'start';
      await step(`libvirt start ${d.name}`, () => node.start(d.name), () => node.destroy(d.name));
      const startedMs = elapsed();
      opts.log.info({ phase, vm: d.name, elapsedMs: startedMs }, 'VM started');
      return { name: d.name, startedMs };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      failures.push({ name: d.name, phase, error });
      opts.log.warn({ phase, vm: d.name, elapsedMs: elapsed(), err: error.message }, `VM ${phase} failed`);
      throw error;
    }
  };
  const settled = await Promise.allSettled(domains.map((d) => limit(bootOne, d)));
  const booted = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (failures.length > 0) {
    const order = new Map(domains.map((d, i) => [d.name, i]));
    failures.sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0));
    throw new BootError(failures, booted, domains.length);
  }
  return booted;
}
