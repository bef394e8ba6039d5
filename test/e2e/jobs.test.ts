import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../src/core/exec/which.js';
import type { RunLocalResult } from '../../src/torque/run-local/index.js';
import { arpLinesOf, createVmSite, nodeFileIps, type VmSite } from './helpers/vm-site.js';

// Real VM jobs through the installed hooks: one sandbox (libvirtd + an isolated network in the
// netns `vtqjobs`), one scratch `vtorque setup`, jobs run by runLocal as pbs_mom would run them.
// TCG guests here take 60-90 s to answer SSH, so scenarios share boots where they can.
const NS = 'vtqjobs';
const USER = 'vtqe2e';
const SUBNET = '10.213.10';
const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[jobs +${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const canRun = process.getuid?.() === 0 && ['virsh', 'qemu-img', 'setpriv', 'useradd'].every((f) => findExecutable(f) !== null);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const site: VmSite = createVmSite({
  name: NS,
  network: { name: 'vtq-jobs-net', bridge: 'vtqjobsbr0', subnet: SUBNET },
  root: process.env.VTQ_TEST_JOBS_DIR ?? '/var/tmp/vtorque-e2e/jobs',
  user: USER,
  log,
});

/** Everything a finished job may have left: none of it may be there. */
async function expectNothingLeft(what: string, ips: readonly string[] = []): Promise<void> {
  const left = await site.leftovers(ips);
  expect(left, `${what}: leftovers`).toEqual({ domains: [], jobDirs: [], mounts: [], torqueFiles: [], arp: [], cancelMarkers: [], attemptCounters: [], records: [] });
  if (ips.length > 0) log(`${what}: ARP for ${ips.join(', ')}: ${JSON.stringify(arpLinesOf(await site.arpTable(), ips))}`);
}

function report(what: string, r: RunLocalResult): void {
  const attempts = r.attempts.map((a) => `prologue ${a.prologueRc}/epilogue ${a.epilogueRc}/exit ${a.exitStatus} in ${(a.ms / 1000).toFixed(1)} s`).join('; ');
  log(`${what}: ${r.jobId} verdict ${r.verdict}, exit ${r.exitStatus}, canceled ${r.canceled}; ${attempts}`);
  for (const line of r.stdout.split('\n').filter(Boolean)) log(`  OU| ${line}`);
  for (const line of r.stderr.split('\n').filter(Boolean)) log(`  ER| ${line}`);
}

const ms = (r: RunLocalResult, hook: string): number[] => r.hooks.filter((h) => h.hook === hook).map((h) => h.ms);

/** CPU seconds (user + system) a process has used, from /proc/PID/stat; null once it is gone. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return null;
  }
}

/** One CPU hog: a busy loop that ends by itself after `maxMs` (bounded even if the test dies), stopped by its PID. */
function startHog(maxMs: number): ChildProcess & { pid: number } {
  const hog = spawn(process.execPath, ['-e', `const end = Date.now() + ${maxMs}; while (Date.now() < end) {}`], { stdio: 'ignore' });
  if (hog.pid === undefined) throw new Error('the CPU hog did not start');
  return hog as ChildProcess & { pid: number };
}

async function stopHog(hog: ChildProcess & { pid: number }): Promise<void> {
  if (hog.exitCode !== null || hog.signalCode !== null) return;
  const gone = new Promise<void>((r) => hog.once('exit', () => r()));
  process.kill(hog.pid, 'SIGTERM');
  await gone;
}

/** The `[vtorque 12.3s] …` progress lines of a job's output: their time stamps (s) and text. */
function progressLines(out: string): { s: number; text: string }[] {
  return [...out.matchAll(/^\[vtorque ([\d.]+)s\] (.*)$/gm)].map((m) => ({ s: Number(m[1]), text: m[2] as string }));
}

describe.skipIf(!canRun)('VM jobs through the installed hooks (slow: TCG guests, about 10 minutes)', () => {
  beforeAll(async () => {
    await site.open();
    log(`site ready: ${site.uri}`);
  }, 10 * 60_000);

  afterAll(async () => {
    await site.close();
    log('uninstalled, sandbox down');
  }, 5 * 60_000);

  it('a. a batch job with vm_prologue exits 3 with its output in .OU (started by vtorque-seed); the same job again with a user cloud-config setting runs too (started by cloud-init, ready once it is done), leaving no domain, job dir or ARP entry', async () => {
    // Round 2 adds a user cloud-config setting: only cloud-init applies those, so the same tuned
    // image is then started by cloud-init, and the job starts only once cloud-init is done.
    site.configure({ METADATA_ALLOWED_KEYS: ['package_update'] });
    site.writeUserFile('meta.yaml', 'package_update: false\n', 0o644);
    site.writeUserFile('pre.sh', '#!/bin/sh\necho "VMPROLOGUE marker as $(id -un) in $(hostname)"\n', 0o755);
    site.writeUserFile(
      'exit3.sh',
      [
        '#!/bin/sh',
        '#PBS -N e2e-exit3',
        '#PBS -l walltime=00:10:00',
        'echo "JOB first line from $(hostname) as $(id -un)"',
        'echo "JOB node file:"; cat "$PBS_VMNODEFILE"',
        'echo "JOB PBS_JOBNAME=$PBS_JOBNAME"',
        // Who started the guest: vtorque-seed (the tuned image, nothing only cloud-init does) or cloud-init.
        'echo "JOB seed=$(grep -o vtorque.seed=on /proc/cmdline || echo cloud-init)"',
        'test -e /var/lib/cloud/instance/boot-finished && echo "JOB cloud-init had finished"',
        'echo "JOB to stderr" >&2',
        'exit 3',
        '',
      ].join('\n'),
      0o755,
    );
    const seen: string[] = [];
    for (const round of [1, 2]) {
      const t = performance.now();
      const r = await site.runJob(['-vm', `vcpus=1,ram=1G,vm_prologue=pre.sh${round === 2 ? ',metadata=meta.yaml' : ''}`, 'exit3.sh']);
      report(`a.${round} (${((performance.now() - t) / 1000).toFixed(0)} s)`, r);
      expect(r.verdict).toBe('run');
      expect(r.exitStatus).toBe(3);
      expect(r.attempts).toEqual([expect.objectContaining({ prologueRc: 0, exitStatus: 3 })]);
      expect(r.stdout).toMatch(/vTorque: 1 VM\(s\) ready in [\d.]+ s \(plan .*ssh .*nodefile [\d.]+s\)/);
      expect(r.stdout).toMatch(new RegExp(`VMPROLOGUE marker as ${USER} in v\\S+-1\\n`));
      expect(r.stdout).toMatch(new RegExp(`JOB first line from v\\S+-1 as ${USER}\\n`));
      expect(r.stdout.indexOf('VMPROLOGUE')).toBeLessThan(r.stdout.indexOf('JOB first line'));
      expect(r.stdout).toContain('JOB PBS_JOBNAME=e2e-exit3\n');
      expect(r.stderr).toContain('JOB to stderr');
      if (round === 1) expect(r.stdout).toContain('JOB seed=vtorque.seed=on\n');
      else expect(r.stdout).toMatch(/JOB seed=cloud-init\nJOB cloud-init had finished\n/);
      const ips = nodeFileIps(r.stdout);
      expect(ips).toHaveLength(1);
      expect(ips[0]).toMatch(new RegExp(`^${SUBNET.replaceAll('.', '\\.')}\\.1\\d\\d$`));
      seen.push(...ips);
      await expectNothingLeft(`a.${round}`, seen);
    }
  });

  it('b+c. a STDIN job with vms_per_node=2,vcpus=1 and HOST_OS_CORE_COUNT 0: its output comes back, two VMs pinned to different CPUs, two different IPs in the node file', async () => {
    site.configure({ HOST_OS_CORE_COUNT: 0 });
    const script = ['#!/bin/sh', 'echo "STDIN job $PBS_JOBNAME in $(hostname), PBS_NP=$PBS_NP"', 'echo "NODEFILE:"', 'cat "$PBS_VMNODEFILE"', 'echo "STDIN done"', ''].join('\n');
    // While the job runs, ask libvirt which host CPU each of its vCPUs may run on.
    const pins = new Map<string, string>();
    let running = true;
    const poller = (async () => {
      while (running) {
        const names = await site.virsh(['list', '--name']).catch(() => '');
        for (const d of names.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('vtq-'))) {
          if (pins.has(d)) continue;
          const out = await site.virsh(['vcpupin', d]).catch(() => '');
          const rows = out.split('\n').map((l) => l.trim().split(/\s+/)).filter((c) => /^\d+$/.test(c[0] ?? ''));
          if (rows.length > 0) pins.set(d, rows.map((c) => `${c[0]}:${c[1]}`).join(' '));
        }
        await sleep(2000);
      }
    })();
    const t = performance.now();
    let r: RunLocalResult;
    try {
      r = await site.runJob(['-vm', 'vms_per_node=2,vcpus=1,ram=1G'], { stdin: script });
    } finally {
      running = false;
      await poller;
    }
    report(`b+c (${((performance.now() - t) / 1000).toFixed(0)} s)`, r);
    log(`b+c: live vCPU affinity (vcpu:cpus) ${JSON.stringify(Object.fromEntries(pins))}`);
    expect(r.verdict).toBe('run');
    expect(r.exitStatus).toBe(0);
    expect(r.stdout).toMatch(/vTorque: 2 VM\(s\) ready in /);
    expect(r.stdout).toMatch(/STDIN job STDIN in v\S+-1, PBS_NP=2\n/);
    expect(r.stdout).toContain('STDIN done\n');
    const ips = nodeFileIps(r.stdout.slice(r.stdout.indexOf('NODEFILE:')));
    expect(ips).toHaveLength(2); // one line per vCPU
    expect(new Set(ips).size).toBe(2);
    // Both domains seen, each vCPU pinned to one host CPU, and not the same one.
    expect(pins.size).toBe(2);
    const cpus = [...pins.values()].map((p) => p.split(':')[1]);
    expect(cpus.every((c) => /^\d+$/.test(c ?? ''))).toBe(true);
    expect(new Set(cpus)).toEqual(new Set(['0', '1']));
    await expectNothingLeft('b+c', ips);
  });

  it('e. a cancel while the VM waits for its address stops the prologue early: aborted, nothing left', async () => {
    site.configure();
    site.writeUserFile('sleepy.sh', '#!/bin/sh\n#PBS -N e2e-cancel\necho "JOB must not run"\nsleep 600\n', 0o755);
    const t = performance.now();
    const r = await site.runJob(['-vm', 'vcpus=1,ram=1G', 'sleepy.sh'], { cancelAfter: 6 });
    report(`e (${((performance.now() - t) / 1000).toFixed(0)} s)`, r);
    expect(r.canceled).toBe(true);
    expect(r.verdict).toBe('aborted');
    expect(r.exitStatus).toBe(271);
    expect(r.attempts).toHaveLength(1);
    expect(r.attempts[0]?.prologueRc).toBe(0); // the cancel is told, not aborted: pbs_mom then never starts the body
    // 6 s after the submit the VM is running and waits for its address (that alone takes ~13 s
    // here): the prologue ended within seconds of the cancel, before the guest was ready.
    const [prologueMs] = ms(r, 'prologue');
    expect(prologueMs).toBeGreaterThan(4_000);
    expect(prologueMs).toBeLessThan(15_000);
    expect(r.stdout).toMatch(/cancelled/);
    expect(r.stdout).not.toContain('JOB must not run');
    await expectNothingLeft('e');
  });

  it('f. a busy node: the job succeeds while two CPU hogs run beside it, and its output shows the boot advancing at least every ~10 s', async () => {
    // TIMEOUT 30 was a fixed per-step limit that a busy TCG boot outlasts (its address alone takes
    // longer); now a VM is given up only after a quiet stretch (measured phase times with headroom),
    // never past PROLOGUE_TIMEOUT, which stays below the mom's alarm (300 here).
    site.configure({ TIMEOUT: 30, PROLOGUE_TIMEOUT: 280 });
    site.writeUserFile('busy.sh', '#!/bin/sh\n#PBS -N e2e-busy\necho "JOB ran beside the hogs in $(hostname)"\n', 0o755);
    const hogs = [startHog(20 * 60_000), startHog(20 * 60_000)];
    const cpu0 = hogs.map((h) => cpuSeconds(h.pid) ?? 0);
    const t = performance.now();
    let r: RunLocalResult;
    let used: number[];
    try {
      r = await site.runJob(['-vm', 'vcpus=1,ram=1G', 'busy.sh']);
    } finally {
      used = hogs.map((h, i) => (cpuSeconds(h.pid) ?? Number.NaN) - (cpu0[i] as number));
      await Promise.all(hogs.map(stopHog));
    }
    const wall = (performance.now() - t) / 1000;
    report(`f (${wall.toFixed(0)} s, hogs used ${used.map((u) => u.toFixed(0)).join(' + ')} CPU s)`, r);
    // The load was real: each hog had most of a core for the whole job.
    for (const u of used) expect(u).toBeGreaterThan(0.4 * wall);
    expect(r.verdict).toBe('run');
    expect(r.exitStatus).toBe(0);
    expect(r.attempts).toEqual([expect.objectContaining({ prologueRc: 0, exitStatus: 0 })]);
    expect(r.stdout).toMatch(/JOB ran beside the hogs in v\S+-1\n/);
    const ready = /vTorque: 1 VM\(s\) ready in ([\d.]+) s/.exec(r.stdout);
    log(`f: ready after ${ready?.[1]} s under load; ${r.stdout.match(/counts as dead \([^)]*\)/)?.[0] ?? 'no quiet-limit line'}`);
    // While it waited for the address and SSH, a line at least every ~10 s: phase, node, VM, elapsed, what was seen.
    const lines = progressLines(r.stdout);
    const from = lines.findIndex((l) => /waiting for their addresses/.test(l.text));
    const to = lines.findIndex((l) => /all VMs accept SSH/.test(l.text));
    expect(from).toBeGreaterThanOrEqual(0);
    expect(to).toBeGreaterThan(from);
    const waits = lines.slice(from, to + 1);
    const gaps = waits.slice(1).map((l, i) => l.s - (waits[i] as { s: number }).s);
    log(`f: ${waits.length} progress lines over ${((waits.at(-1)?.s ?? 0) - (waits[0]?.s ?? 0)).toFixed(0)} s, longest gap ${Math.max(...gaps).toFixed(1)} s`);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(12);
    const vmLines = waits.filter((l) => /^\S+ vtq-\S+: (waiting for its address|waiting for SSH at \S+|address \S+ .*), [\d.]+ s since start; seen: /.test(l.text));
    expect(vmLines.length).toBeGreaterThanOrEqual(Math.floor(((waits.at(-1)?.s ?? 0) - (waits[0]?.s ?? 0)) / 10) - 1);
    expect(vmLines.some((l) => /console [\d.]+ (B|KiB)/.test(l.text)), 'console bytes shown').toBe(true);
    await expectNothingLeft('f', nodeFileIps(r.stdout));
  });

  it('d. a guest that never comes up: each prologue fails within its deadline, the 3rd node fault aborts, the reason is in .OU, nothing left', async () => {
    site.configure({ TIMEOUT: 25, PROLOGUE_TIMEOUT: 60 });
    const broken = join(site.poolDir, 'broken.qcow2'); // no OS, no kernel beside it: the firmware finds nothing to boot
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', broken, '1G']);
    try {
      site.writeUserFile('never.sh', '#!/bin/sh\n#PBS -N e2e-broken\necho "JOB must not run"\n', 0o755);
      const t = performance.now();
      const r = await site.runJob(['-vm', 'img=broken.qcow2,distro=debian,vcpus=1,ram=1G', 'never.sh']);
      report(`d (${((performance.now() - t) / 1000).toFixed(0)} s)`, r);
      log(`d: prologue ms ${JSON.stringify(ms(r, 'prologue'))}, epilogue ms ${JSON.stringify(ms(r, 'epilogue'))}`);
      // The 3rd node fault ends the job: it runs only to say why (exit 69), as Torque delivers that.
      expect(r.verdict).toBe('run');
      expect(r.exitStatus).toBe(69);
      expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 2, 0]);
      for (const p of ms(r, 'prologue')) expect(p).toBeLessThan(60_000);
      for (const a of r.attempts) expect(a.ms).toBeLessThan(60_000 + 30_000); // + the epilogue's teardown
      expect(r.stdout).toMatch(/failed to start on this node 3 times \(last: no IP address after \d+ ms/);
      expect(r.stdout).toMatch(/aborted/);
      expect(r.stderr).toMatch(/^vTorque: the VMs failed to start on this node 3 times/);
      expect(r.stdout).not.toContain('JOB must not run');
      await expectNothingLeft('d');
    } finally {
      rmSync(broken, { force: true });
    }
  });
});
