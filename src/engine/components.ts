import type { SiteConfig } from '../core/config/schema.js';
import { VtorqueError } from '../core/errors.js';
import { run } from '../core/exec/run.js';
import type { VmRequest } from '../core/request/types.js';
import type { EngineLog } from './libvirt/index.js';

/**
 * The original's IOcm / vRDMA / Snap slots, made generic: per component an admin command for job
 * start and one for job end (argv arrays, never a shell), the job as environment variables, a
 * timeout, and a node regex that really matches (anchored; the original's `*` matched nothing).
 */
export type ComponentName = 'iocm' | 'vrdma' | 'snap';

export interface ComponentJob {
  readonly jobId: string;
  readonly user: string;
  readonly node: string;
  /** What the job asked for; a teardown that cannot trust the request passes every feature on. */
  readonly request: Pick<VmRequest, 'vrdma' | 'iocm' | 'iocm_min_cores' | 'iocm_max_cores'>;
}

interface Component {
  readonly name: ComponentName;
  readonly start: readonly string[];
  readonly stop: readonly string[];
  readonly env: Record<string, string>;
}

/** The components that apply to this job on this node, in start order. */
export function componentsFor(c: SiteConfig, job: ComponentJob): Component[] {
  const on = (enabled: boolean, nodes: string) => enabled && new RegExp(`^(?:${nodes})$`).test(job.node);
  const list: Component[] = [];
  if (job.request.vrdma && on(c.VRDMA_ENABLED, c.VRDMA_NODES)) list.push({ name: 'vrdma', start: c.VRDMA_START_CMD, stop: c.VRDMA_STOP_CMD, env: {} });
  if (job.request.iocm && on(c.IOCM_ENABLED, c.IOCM_NODES)) {
    list.push({ name: 'iocm', start: c.IOCM_START_CMD, stop: c.IOCM_STOP_CMD, env: { VTORQUE_IOCM_MIN_CORES: String(job.request.iocm_min_cores), VTORQUE_IOCM_MAX_CORES: String(job.request.iocm_max_cores) } });
  }
  if (on(c.SNAP_MONITORING_ENABLED, c.SNAP_NODES)) {
    const tag = c.SNAP_TAG_FORMAT.replace(/\[username\]/g, job.user).replace(/\[jobid\]/g, job.jobId);
    list.push({ name: 'snap', start: c.SNAP_START_CMD, stop: c.SNAP_STOP_CMD, env: { VTORQUE_SNAP_TAG: tag, VTORQUE_SNAP_BIN_DIR: c.SNAP_BIN_DIR } });
  }
  return list;
}

function envFor(job: ComponentJob, phase: 'start' | 'stop', extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', VTORQUE_PHASE: phase, VTORQUE_JOB_ID: job.jobId, VTORQUE_JOB_OWNER: job.user, VTORQUE_NODE: job.node, ...extra };
}

/** Start each applicable component; if one fails, stop those already started and fail. */
export async function startComponents(c: SiteConfig, job: ComponentJob, log: EngineLog): Promise<ComponentName[]> {
  const started: Component[] = [];
  for (const comp of componentsFor(c, job)) {
    if (comp.start.length === 0) continue;
    const [file, ...args] = comp.start as [string, ...string[]];
    log.info({ component: comp.name, phase: 'start' }, `starting component ${comp.name}`);
    try {
      await run(file, args, { env: envFor(job, 'start', comp.env), timeoutMs: c.COMPONENT_TIMEOUT * 1000 });
      started.push(comp);
    } catch (err) {
      await stopList(c, job, started.reverse(), log);
      throw new VtorqueError('COMMAND_FAILED', `component ${comp.name} failed to start: ${err instanceof Error ? err.message : String(err)}`, { cause: err, exitCode: 2 });
    }
  }
  return started.map((s) => s.name);
}

/** Stop every applicable component, in reverse order; failures are logged and returned, never thrown. */
export async function stopComponents(c: SiteConfig, job: ComponentJob, log: EngineLog): Promise<string[]> {
  return stopList(c, job, componentsFor(c, job).reverse(), log);
}

async function stopList(c: SiteConfig, job: ComponentJob, list: readonly Component[], log: EngineLog): Promise<string[]> {
  const problems: string[] = [];
  for (const comp of list) {
    if (comp.stop.length === 0) continue;
    const [file, ...args] = comp.stop as [string, ...string[]];
    try {
      await run(file, args, { env: envFor(job, 'stop', comp.env), timeoutMs: c.COMPONENT_TIMEOUT * 1000 });
    } catch (err) {
      const msg = `component ${comp.name} failed to stop: ${err instanceof Error ? err.message : String(err)}`;
      log.warn({ component: comp.name, phase: 'stop' }, msg);
      problems.push(msg);
    }
  }
  return problems;
}
