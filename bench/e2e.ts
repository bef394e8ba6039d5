import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../src/core/exec/run.js';
import { findExecutable } from '../src/core/exec/which.js';
import { inSandbox } from '../src/sandbox/index.js';
import { createVmSite } from '../test/e2e/helpers/vm-site.js';
import { arpAddress, prepareSmokeGuest, sshArgs } from '../test/e2e/helpers/smoke-guest.js';
import { emit } from './stats.js';

/**
 * P4: what vTorque adds to getting a job onto a fresh VM, on this machine (TCG guests), in one run
 * and one sandbox, the two measured one after the other (raw first) so they never share the CPUs:
 *
 * - raw: overlay + NoCloud seed (cloud-localds, a generated key) + `virsh create` of a minimal
 *   domain of the same image (direct kernel boot, 1 GiB, 1 vCPU, the same network), then the first
 *   ARP entry of its MAC in the netns, the first `ssh … true` that works, `cloud-init status --wait`.
 *   Every raw_* time counts from the start of the overlay/seed creation.
 * - vtorque: a job submitted with the installed vsub and run through the installed hooks by
 *   runLocal; the clock runs from the submit to the first line the job script itself prints
 *   (FIRSTLINE, seen in the job's .OU), and the prologue's own phase timeline is the breakdown.
 *
 * P4_e2e_vs_raw_ratio = vtorque submit -> first line / raw create -> SSH login (target 1.15).
 * The raw guest is started by cloud-init (its seed has no vtorque/ part); the vtorque job, which
 * needs nothing only cloud-init does, by vtorque-seed: the ratio then also shows that difference.
 * P4_submit_to_first_line_s is the vtorque job's own figure (target 20 s).
 */
export async function benchE2e(): Promise<void> {
  const missing = ['virsh', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'setpriv'].filter((t) => findExecutable(t) === null);
  if (process.getuid?.() !== 0 || missing.length > 0) {
    emit('P4_e2e_vs_raw_ratio', Number.NaN, 'ratio', { skipped: process.getuid?.() !== 0 ? 'needs root' : `missing ${missing.join(', ')}` });
    return;
  }
  const t00 = performance.now();
  const log = (line: string): void => void process.stderr.write(`[e2e +${((performance.now() - t00) / 1000).toFixed(0)}s] ${line}\n`);
  const NS = 'vtqbench';
  const network = { name: 'vtq-bench-net', bridge: 'vtqbenchbr0', subnet: '10.213.11' };
  const site = createVmSite({ name: NS, network, root: process.env.VTQ_BENCH_E2E_DIR ?? '/var/tmp/vtorque-e2e/bench', user: 'vtqe2e', log });
  try {
    await site.open();
    const raw = await rawBoot(site.opts.root, site, NS, network.name, log);
    const vt = await vtorqueJob(site, log);

    emit('raw_create_s', raw.create, 's', { from: 'overlay+seed creation start', includes: 'overlay, seed, key, virsh create', prepare_s: round(raw.prepare) });
    emit('raw_arp_s', raw.arp, 's', { from: 'overlay+seed creation start' });
    emit('raw_ssh_s', raw.ssh, 's', { from: 'overlay+seed creation start', what: 'first successful ssh … true' });
    emit('raw_cloudinit_s', raw.cloudInit, 's', { from: 'overlay+seed creation start', status: raw.cloudInitStatus });
    emit('vtorque_first_line_s', vt.firstLine, 's', { from: 'vsub submit (runLocal start)', to: 'FIRSTLINE in the job .OU' });
    emit('vtorque_ready_line_s', vt.readyLine, 's', { from: 'vsub submit', to: "the prologue's 'VM(s) ready' line in .OU" });
    emit('vtorque_ready_s', vt.ready, 's', { what: "the prologue's own ready time (plan .. nodefile)" });
    for (const [phase, s] of Object.entries(vt.phases)) emit(`vtorque_${phase}_s`, s, 's', { what: `prologue phase ${phase}` });
    emit('vtorque_total_s', vt.total, 's', { what: 'submit to runLocal returning (job, epilogue teardown included)', verdict: vt.verdict, exit: vt.exitStatus });
    emit('P4_submit_to_first_line_s', vt.firstLine, 's', { target: 20, from: 'vsub submit', to: "the job script's first line in its .OU", phases: vt.phases });
    emit('P4_e2e_vs_raw_ratio', vt.firstLine / raw.ssh, 'ratio', {
      target: 1.15,
      vtorque_first_line_s: round(vt.firstLine),
      raw_create_to_ssh_s: round(raw.ssh),
      added_s: round(vt.firstLine - raw.ssh),
      guest: 'TCG, 1 vCPU, 1 GiB, direct kernel boot',
    });
  } finally {
    await site.close();
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, boundMs: number, everyMs: number, fn: () => Promise<T | null>): Promise<T> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${boundMs / 1000} s`);
    await sleep(everyMs);
  }
}

interface RawTimes {
  prepare: number;
  create: number;
  arp: number;
  ssh: number;
  cloudInit: number;
  cloudInitStatus: string;
}

async function rawBoot(root: string, site: ReturnType<typeof createVmSite>, ns: string, network: string, log: (l: string) => void): Promise<RawTimes> {
  const image = site.image;
  if (!image) throw new Error('no image');
  const t0 = performance.now();
  const s = (): number => (performance.now() - t0) / 1000;
  const guest = await prepareSmokeGuest(join(root, 'raw'), image, network);
  const prepare = s();
  await run('virsh', ['-c', site.uri, 'create', join(guest.dir, 'domain.xml')], { timeoutMs: 60_000 });
  const create = s();
  log(`raw: ${guest.name} created after ${create.toFixed(1)} s (prepare ${prepare.toFixed(1)} s)`);
  try {
    const ip = await until('raw ARP entry', 240_000, 200, () => arpAddress(ns, guest.mac));
    const arp = s();
    log(`raw: ARP ${guest.mac} -> ${ip} after ${arp.toFixed(1)} s`);
    const [sshFile, ...sshPrefix] = inSandbox(ns, 'ssh', []);
    const ssh = (cmd: readonly string[], timeoutMs = 60_000): ReturnType<typeof run> =>
      run(sshFile as string, [...sshPrefix, ...sshArgs(guest, ip, cmd)], { timeoutMs, reject: false });
    await until('raw SSH login', 240_000, 250, async () => ((await ssh(['true'], 15_000)).exitCode === 0 ? true : null));
    const sshAt = s();
    log(`raw: SSH login after ${sshAt.toFixed(1)} s`);
    const ci = await ssh(['cloud-init', 'status', '--wait'], 300_000);
    const cloudInit = s();
    const cloudInitStatus = ci.stdout.trim().split('\n').pop() ?? `exit ${ci.exitCode}`;
    log(`raw: cloud-init '${cloudInitStatus}' after ${cloudInit.toFixed(1)} s`);
    return { prepare, create, arp, ssh: sshAt, cloudInit, cloudInitStatus };
  } finally {
    await run('virsh', ['-c', site.uri, 'destroy', guest.name], { timeoutMs: 60_000, reject: false });
    await run('rm', ['-rf', guest.dir], { timeoutMs: 30_000, reject: false });
    await sleep(3000); // let the host settle before the vtorque run
  }
}

export interface VtorqueTimes {
  firstLine: number;
  readyLine: number;
  ready: number;
  phases: Record<string, number>;
  total: number;
  verdict: string;
  exitStatus: number;
  /** The job's .OU as delivered. */
  stdout: string;
}

/**
 * One VM job through the installed hooks, timed from the submit to its first line. `img` picks a
 * pool image (default: the site's); `after` is shell run in the guest after the first line.
 */
export async function vtorqueJob(site: ReturnType<typeof createVmSite>, log: (l: string) => void, opts: { img?: string; after?: string } = {}): Promise<VtorqueTimes> {
  site.configure();
  site.writeUserFile('first.sh', `#!/bin/sh\n#PBS -N e2e-bench\necho FIRSTLINE\nhostname\n${opts.after ?? ''}`, 0o755);
  const spool = join(site.torqueHome, 'spool');
  const seen: { ready?: number; first?: number; text: string } = { text: '' };
  let watching = true;
  const t0 = performance.now();
  const s = (): number => (performance.now() - t0) / 1000;
  // The job's .OU in the Torque spool, read every 100 ms: when a line first appears is when the job printed it.
  const watcher = (async () => {
    while (watching && seen.first === undefined) {
      const ou = (await readdir(spool).catch(() => [] as string[])).find((f) => f.endsWith('.OU'));
      if (ou !== undefined) {
        const text = await readFile(join(spool, ou), 'utf8').catch(() => '');
        seen.text = text;
        if (seen.ready === undefined && /VM\(s\) ready in/.test(text)) seen.ready = s();
        if (/^FIRSTLINE$/m.test(text)) seen.first = s();
      }
      await sleep(100);
    }
  })();
  let result;
  try {
    result = await site.runJob(['-vm', `vcpus=1,ram=1G${opts.img ? `,img=${opts.img}` : ''}`, 'first.sh']);
  } finally {
    watching = false;
    await watcher;
  }
  const total = s();
  log(`vtorque: ${result.jobId} verdict ${result.verdict} exit ${result.exitStatus} after ${total.toFixed(1)} s; .OU:\n${result.stdout}`);
  if (result.verdict !== 'run' || result.exitStatus !== 0 || seen.first === undefined) {
    throw new Error(`the vtorque job did not run cleanly (verdict ${result.verdict}, exit ${result.exitStatus}, FIRSTLINE ${seen.first === undefined ? 'never seen' : 'seen'}): ${result.stdout}${result.stderr}`);
  }
  // vTorque: 1 VM(s) ready in 84.2 s (plan 0.0s, prepare 0.4s, boot 0.3s, ip 25.1s, ssh 57.9s, nodefile 0.5s); the job starts in …
  const m = /VM\(s\) ready in ([\d.]+) s \(([^)]*)\)/.exec(result.stdout);
  if (!m) throw new Error(`no phase timeline in the job output: ${result.stdout}`);
  const phases: Record<string, number> = {};
  for (const part of (m[2] as string).split(', ')) {
    const [name, secs] = part.split(' ');
    if (name && secs) phases[name] = Number(secs.replace(/s$/, ''));
  }
  const left = await site.leftovers();
  if (left.domains.length + left.jobDirs.length > 0) log(`vtorque: LEFTOVERS ${JSON.stringify(left)}`);
  return { firstLine: seen.first, readyLine: seen.ready ?? Number.NaN, ready: Number(m[1]), phases, total, verdict: result.verdict, exitStatus: result.exitStatus, stdout: result.stdout };
}
