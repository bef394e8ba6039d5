import { loadConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { ownerStatusPath, readOwnerStatusFile, readStatusFile, statusPath, type JobStatusV1, type StartAttempt } from '../../lifecycle/index.js';

/** Characters of one VM's bar. */
const WIDTH = 48;
const LEGEND = 'bar: p plan and prepare, b boot, ~ waiting for its address, s SSH, = ready (the others still coming), n node file, . not reached';

/**
 * `vtorque status JOB [--json]` on the job's head node: its starts (a requeued job has several)
 * with the phase timeline per VM, and how it ended, until gc reaps the record (3 days after its
 * last change). Root reads root's own copy; the job owner the copy written for them alone.
 */
export function runStatusCommand(a: { job: string; json: boolean; config?: string | undefined }, out: (s: string) => void): number {
  const { config } = loadConfig({ path: a.config, env: process.env });
  const root = process.getuid?.() === 0;
  let status: JobStatusV1 | null;
  try {
    status = root ? readStatusFile(statusPath(config, a.job)) : readOwnerStatusFile(ownerStatusPath(config, a.job));
  } catch (err) {
    const denied = (err as NodeJS.ErrnoException).code === 'EACCES';
    throw new VtorqueError('USAGE', denied ? `job ${a.job}: its status on this node is not yours to read` : `job ${a.job}: its status record cannot be read: ${(err as Error).message}`, { fault: 'job', exitCode: 1 });
  }
  if (status === null) {
    throw new VtorqueError('USAGE', `job ${a.job}: no status on this node (it lives on the job's head node, the one that ran its prologue/Prolog, for 3 days)`, { fault: 'job', exitCode: 1 });
  }
  if (a.json) out(`${JSON.stringify(status, null, 2)}\n`);
  else for (const line of formatStatus(status)) out(`${line}\n`);
  return 0;
}

const clock = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

/** The status as a person reads it: one block per start, one bar per VM, then the end. */
export function formatStatus(s: JobStatusV1): string[] {
  const last = s.attempts.at(-1);
  const state = s.ended !== null ? 'ended' : last?.result === 'running' ? 'running in its VMs' : last ? 'not started' : 'unknown';
  const lines = [`job ${s.jobId} (${s.scheduler}), owner ${s.owner.user}: ${state}; ${s.attempts.length} start(s)`];
  s.attempts.forEach((a, i) => lines.push(...formatAttempt(a, i + 1)));
  if (s.attempts.some((a) => a.vms.length > 0)) lines.push(`  ${LEGEND}`);
  if (s.ended !== null) {
    const left = s.ended.error !== null ? `; teardown failed: ${s.ended.error}` : s.ended.left.length > 0 ? `; left for gc: ${s.ended.left.join('; ')}` : '; nothing left';
    lines.push(`ended ${clock(s.ended.at)}: ${s.ended.vmsTornDown} VM(s) torn down${left}`);
  }
  return lines;
}

function formatAttempt(a: StartAttempt, n: number): string[] {
  const end = Math.max(1, ...a.phases.map((p) => p.endMs), ...a.vms.map((v) => v.readyMs ?? 0));
  const head = a.result === 'running' ? `ready after ${sec(end)}` : `failed (${a.fault ?? 'unknown'}): ${a.reason ?? ''}`;
  const lines = [`start ${n} at ${clock(a.startedAt)} on ${a.nodes.join(', ')}: ${head}`];
  if (a.phases.length > 0) lines.push(`  phases: ${a.phases.map((p) => `${p.phase} ${sec(p.endMs - p.startMs)}`).join(' | ')}`);
  if (a.vms.length === 0) return lines;
  const nameWidth = Math.max(...a.vms.map((v) => `${v.name} ${v.node}`.length));
  const scale = `0s${' '.repeat(Math.max(1, WIDTH - 2 - sec(end).length))}${sec(end)}`;
  lines.push(`  ${' '.repeat(nameWidth)}  ${scale}`);
  for (const v of a.vms) lines.push(`  ${`${v.name} ${v.node}`.padEnd(nameWidth)}  [${bar(a, v, end)}]${v.readyMs !== null ? ` address ${sec((v.addressMs ?? 0) - bootEnd(a))}, SSH ${sec(v.readyMs - (v.addressMs ?? 0))}` : ''}`);
  return lines;
}

const bootEnd = (a: StartAttempt): number => a.phases.find((p) => p.phase === 'boot')?.endMs ?? 0;

/** One VM's phases as segments of a WIDTH-character bar over the start's whole time. */
export function bar(a: StartAttempt, vm: StartAttempt['vms'][number], endMs: number): string {
  const at = (ms: number): number => Math.min(WIDTH, Math.round((ms / endMs) * WIDTH));
  const cells = Array.from({ length: WIDTH }, () => '.');
  const paint = (fromMs: number, toMs: number, ch: string): void => {
    for (let i = at(fromMs); i < Math.max(at(fromMs) + (toMs > fromMs ? 1 : 0), at(toMs)) && i < WIDTH; i++) cells[i] = ch;
  };
  for (const p of a.phases) {
    if (p.phase === 'plan' || p.phase === 'prepare') paint(p.startMs, p.endMs, 'p');
    else if (p.phase === 'boot') paint(p.startMs, p.endMs, 'b');
    else if (p.phase === 'nodefile' && vm.readyMs !== null) paint(p.startMs, p.endMs, 'n');
  }
  const booted = bootEnd(a);
  if (booted > 0) paint(booted, vm.addressMs ?? (a.result === 'failed' ? booted : endMs), '~');
  if (vm.addressMs !== null) paint(vm.addressMs, vm.readyMs ?? (a.result === 'failed' ? vm.addressMs : endMs), 's');
  const nodefile = a.phases.find((p) => p.phase === 'nodefile');
  if (vm.readyMs !== null) paint(vm.readyMs, nodefile?.startMs ?? endMs, '=');
  return cells.join('');
}
