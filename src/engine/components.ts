import type { SiteConfig } from '../core/config/index.js';
import { VtorqueError } from '../core/errors.js';
import { run } from '../core/exec/run.js';
import type { VmRequest } from '../core/request/index.js';
import type { EngineLog } from './libvirt/index.js';

/**
 * The original's IOcm / vRDMA / Snap slots, made generic: per component an admin command for job
 * start and one for job end (argv arrays, never a shell), the job as environment variables, a
 * timeout, and a node regex that really matches (anchored; the original's `*` matched nothing).
 */
export type ComponentName = 'iocm' | 'vrdma' | 'snap';
export const COMPONENT_NAMES: readonly ComponentName[] = ['iocm', 'vrdma', 'snap'];

export interface ComponentJob {
  readonly jobId: string;
  readonly user: string;
  readonly node: string;
  /** What the job asked for, validated against the site policy by the prologue. */
  readonly request: Pick<VmRequest, 'vrdma' | 'iocm' | 'iocm_min_cores' | 'iocm_max_cores'>;
}

/**
 * One component command exactly as it is run: decided once when the job starts, so the stop at
 * the job's end (epilogue, gc) runs with the values the start was validated with, whatever the
 * job's files or the site config say by then.
 */
export interface ComponentCommand {
  readonly name: ComponentName;
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

interface Component {
  readonly name: ComponentName;
  readonly start: ComponentCommand | null;
  readonly stop: ComponentCommand | null;
}

/** The components that apply to this job on this node, in start order, with their exact commands. */
export function componentsFor(c: SiteConfig, job: ComponentJob): Component[] {
  const on = (enabled: boolean, nodes: string) => enabled && new RegExp(`^(?:${nodes})$`).test(job.node);
  const make = (name: ComponentName, start: readonly string[], stop: readonly string[], extra: Record<string, string>): Component => ({
    name,
    start: start.length === 0 ? null : { name, argv: [...start], env: envFor(job, 'start', extra) },
    stop: stop.length === 0 ? null : { name, argv: [...stop], env: envFor(job, 'stop', extra) },
  });
  const list: Component[] = [];
  if (job.request.vrdma && on(c.VRDMA_ENABLED, c.VRDMA_NODES)) list.push(make('vrdma', c.VRDMA_START_CMD, c.VRDMA_STOP_CMD, {}));
  if (job.request.iocm && on(c.IOCM_ENABLED, c.IOCM_NODES)) {
    list.push(make('iocm', c.IOCM_START_CMD, c.IOCM_STOP_CMD, { VTORQUE_IOCM_MIN_CORES: String(job.request.iocm_min_cores), VTORQUE_IOCM_MAX_CORES: String(job.request.iocm_max_cores) }));
  }
  if (on(c.SNAP_MONITORING_ENABLED, c.SNAP_NODES)) {
    const tag = c.SNAP_TAG_FORMAT.replace(/\[username\]/g, job.user).replace(/\[jobid\]/g, job.jobId);
    list.push(make('snap', c.SNAP_START_CMD, c.SNAP_STOP_CMD, { VTORQUE_SNAP_TAG: tag, VTORQUE_SNAP_BIN_DIR: c.SNAP_BIN_DIR }));
  }
  return list;
}

function envFor(job: ComponentJob, phase: 'start' | 'stop', extra: Record<string, string>): Record<string, string> {
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', VTORQUE_PHASE: phase, VTORQUE_JOB_ID: job.jobId, VTORQUE_JOB_OWNER: job.user, VTORQUE_NODE: job.node, ...extra };
}

/** The stop commands of every component that applies to the job, in start order: what its record keeps. */
export function componentStops(c: SiteConfig, job: ComponentJob): ComponentCommand[] {
  return componentsFor(c, job).flatMap((comp) => (comp.stop ? [comp.stop] : []));
}

/**
 * Start each applicable component. The caller writes componentStops into the job's record first,
 * so a start killed half way is still undone by the epilogue. If one fails, those started and the
 * one that failed are stopped, in reverse, and the start fails (a node fault).
 */
export async function startComponents(c: SiteConfig, job: ComponentJob, log: EngineLog): Promise<ComponentName[]> {
  const begun: Component[] = [];
  for (const comp of componentsFor(c, job)) {
    if (!comp.start) continue;
    begun.push(comp);
    log.info({ component: comp.name, phase: 'start' }, `starting component ${comp.name}`);
    try {
      await runCommand(comp.start, c.COMPONENT_TIMEOUT);
    } catch (err) {
      await stopComponentCommands(begun.flatMap((b) => (b.stop ? [b.stop] : [])), c.COMPONENT_TIMEOUT, log);
      throw new VtorqueError('COMMAND_FAILED', `component ${comp.name} failed to start: ${err instanceof Error ? err.message : String(err)}`, { cause: err, exitCode: 2, fault: 'node' });
    }
  }
  return begun.map((s) => s.name);
}

export interface ComponentStopResult {
  /** The commands that failed (a later gc may try them again). */
  readonly failed: readonly ComponentCommand[];
  readonly problems: readonly string[];
}

/** Run stop commands in reverse order; failures are logged and returned, never thrown. */
export async function stopComponentCommands(stops: readonly ComponentCommand[], timeoutSeconds: number, log: EngineLog): Promise<ComponentStopResult> {
  const failed: ComponentCommand[] = [];
  const problems: string[] = [];
  for (const stop of [...stops].reverse()) {
    try {
      await runCommand(stop, timeoutSeconds);
    } catch (err) {
      const msg = `component ${stop.name} failed to stop: ${err instanceof Error ? err.message : String(err)}`;
      log.warn({ component: stop.name, phase: 'stop' }, msg);
      failed.unshift(stop);
      problems.push(msg);
    }
  }
  return { failed, problems };
}

async function runCommand(cmd: ComponentCommand, timeoutSeconds: number): Promise<void> {
  const [file, ...args] = cmd.argv as [string, ...string[]];
  await run(file, args, { env: { ...cmd.env }, timeoutMs: timeoutSeconds * 1000 });
}
