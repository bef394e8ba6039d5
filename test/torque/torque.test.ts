import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgedJobScript } from '../helpers/forged-job.js';
import { createVmSite, REPO, type VmSite } from '../e2e/helpers/vm-site.js';
import { QSUB, realTorque, TORQUE_HOME, TORQUE_PREFIX, type JobInfo } from './real-torque.js';

// The installed hooks under the real Torque 6.1.3 daemons (pbs_server, pbs_sched, trqauthd,
// pbs_mom), not our emulation: jobs submitted with vsub (or a forged one with plain qsub) as an
// unprivileged user, run by the real pbs_mom inside the sandbox's network namespace, which also
// holds libvirtd and the guests' network. What the user gets back is what Torque delivers.
const NS = 'vtqtorque';
const USER = 'vtqe2e';
const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[torque +${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const isRoot = process.getuid?.() === 0;
const BOOT_MS = 15 * 60_000;

const site: VmSite = createVmSite({
  name: NS,
  network: { name: 'vtq-torque-net', bridge: 'vtqtorquebr0', subnet: '10.213.40' },
  root: process.env.VTQ_TEST_TORQUE_DIR ?? '/var/tmp/vtorque-torque',
  user: USER,
  log,
  torqueHome: TORQUE_HOME,
  config: { PBS_QSUB_ON_FE: QSUB, PBS_QSUB_ON_NODES: QSUB, TIMEOUT: 400, PROLOGUE_TIMEOUT: 500 },
});
const torque = realTorque(NS, log);
const momPriv = join(TORQUE_HOME, 'mom_priv');
const SITE_PROLOGUE = '#!/bin/sh\necho "site prologue ran for $1"\nexit 0\n';

/** mom_priv as an admin sees it (what uninstall must restore), pbs_mom's own runtime files aside. */
function momPrivSnapshot(): string[] {
  return readdirSync(momPriv).filter((f) => !['jobs', 'mom.lock', 'config'].includes(f)).sort().map((f) => {
    const st = lstatSync(join(momPriv, f));
    const sum = st.isFile() ? createHash('sha256').update(readFileSync(join(momPriv, f))).digest('hex') : st.isSymbolicLink() ? 'link' : 'dir';
    return `${f} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${sum}`;
  });
}
let before: string[] = [];

function vsub(args: readonly string[], stdin?: string): { id: string; err: string } {
  const r = torque.asUser(USER, [join(site.prefix, 'bin', 'vsub'), ...args], { cwd: site.work, ...(stdin === undefined ? {} : { stdin }) });
  log(`vsub ${args.join(' ')} -> ${r.status}: ${r.stdout.trim()} ${r.stderr.trim()}`);
  expect(r.status, r.stderr).toBe(0);
  return { id: r.stdout.trim(), err: r.stderr };
}

/** The job's .o and .e as Torque copied them back into the submit directory (waits a little for the copy). */
async function delivered(info: JobInfo): Promise<{ out: string | null; err: string | null }> {
  const file = (path: string | undefined): string | null => {
    const p = (path ?? '').replace(/^[^:]*:/, '');
    return p !== '' && existsSync(p) ? readFileSync(p, 'utf8') : null;
  };
  for (let i = 0; i < 20 && file(info.Output_Path) === null; i++) await new Promise((r) => setTimeout(r, 500));
  return { out: file(info.Output_Path), err: file(info.Error_Path) };
}

async function finished(id: string, what: string, timeoutMs = BOOT_MS): Promise<{ info: JobInfo; out: string; err: string }> {
  const info = await torque.waitDone(id, timeoutMs);
  const d = await delivered(info);
  log(`${what}: ${id} exit_status ${info.exit_status}, start_count ${info.start_count}, comment ${info.comment}`);
  for (const line of (d.out ?? '(no .o delivered)').split('\n').filter(Boolean)) log(`  .o| ${line}`);
  for (const line of (d.err ?? '(no .e delivered)').split('\n').filter(Boolean)) log(`  .e| ${line}`);
  return { info, out: d.out ?? '', err: d.err ?? '' };
}

/** Nothing of the job left: no domain, no vTorque state, nothing in Torque's spool or mom_priv/jobs; the node free. */
async function nothingLeft(id: string): Promise<void> {
  const left = await site.leftovers();
  expect({ domains: left.domains, jobDirs: left.jobDirs, records: left.records, cancel: left.cancelMarkers, mounts: left.mounts }).toEqual({ domains: [], jobDirs: [], records: [], cancel: [], mounts: [] });
  for (let i = 0; i < 20 && torque.momFiles(id).length > 0; i++) await new Promise((r) => setTimeout(r, 500));
  expect(torque.momFiles(id)).toEqual([]);
  const node = torque.node();
  expect(node.state).toBe('free');
  expect(node.message).not.toMatch(/ERROR/);
}


describe.skipIf(!isRoot)('the installed hooks under real Torque 6.1.3 daemons (slow: TCG guests)', () => {
  beforeAll(async () => {
    torque.install();
    // A site prologue already there: setup must chain it, uninstall must give it back as it was.
    writeFileSync(join(momPriv, 'prologue'), SITE_PROLOGUE, { mode: 0o700 });
    chmodSync(join(momPriv, 'prologue'), 0o700);
    before = momPrivSnapshot();
    torque.setPrologAlarm(600);
    await site.open();
    torque.up(600);
    site.writeUserFile('plain.sh', '#!/bin/sh\n#PBS -N tq-plain\necho "plain job on $(hostname) as $(id -un)"\n', 0o755);
    log(`site ready: ${site.uri}; mom_priv: ${momPrivSnapshot().join(' | ')}`);
  }, 20 * 60_000);

  afterAll(async () => {
    try {
      torque.down();
    } finally {
      await site.close();
      rmSync(join(momPriv, 'prologue'), { force: true });
    }
  }, 10 * 60_000);

  it('a plain job passes through: output and exit status back, the site prologue chained, Node never started', async () => {
    const { id } = vsub(['plain.sh']);
    const { info, out } = await finished(id, 'plain', 120_000);
    expect(info.exit_status).toBe('0');
    expect(out).toBe(`site prologue ran for ${id}\nplain job on ${hostname().split('.')[0]} as ${USER}\n`);
    expect(existsSync(join(site.opts.root, 'log', 'prologue.log'))).toBe(false);
    await nothingLeft(id);
  });

  it('a VM job: its guest output and exit code come back in the .o/.e and qstat\'s exit_status', async () => {
    site.writeUserFile('vm.sh', '#!/bin/sh\n#PBS -N tq-vm\necho "JOB in $(hostname) as $(id -un), PBS_JOBID=$PBS_JOBID"\ncat "$PBS_VMNODEFILE"\necho "JOB to stderr" >&2\nexit 3\n', 0o755);
    const { id } = vsub(['-vm', 'vcpus=1,ram=1G', 'vm.sh']);
    const { info, out, err } = await finished(id, 'vm');
    expect(info.exit_status).toBe('3');
    expect(info.start_count).toBe('1');
    expect(out).toContain(`site prologue ran for ${id}`);
    expect(out).toMatch(/vTorque: 1 VM\(s\) ready in/);
    expect(out).toMatch(new RegExp(`JOB in vvm-1 as ${USER}, PBS_JOBID=${id.replace(/\./g, '\\.')}`));
    expect(out).toMatch(/^10\.213\.40\.\d+$/m);
    expect(out).toMatch(/1 VM\(s\) of job .* torn down/);
    expect(err).toContain('JOB to stderr');
    await nothingLeft(id);
  }, BOOT_MS);

  it('a STDIN VM job: its output comes back as STDIN.o<n>', async () => {
    const { id } = vsub(['-vm', 'vcpus=1,ram=1G'], 'echo "STDIN job in $(hostname)"\n');
    const { info, out } = await finished(id, 'stdin');
    expect(info.Job_Name).toBe('STDIN');
    expect(info.exit_status).toBe('0');
    expect(info.Output_Path).toMatch(/\/STDIN\.o\d+$/);
    expect(out).toContain('STDIN job in vvm-1');
    await nothingLeft(id);
  }, BOOT_MS);

  it('qdel during the boot: the VMs go at once, nothing is left, the node stays free with no sticky error', async () => {
    site.writeUserFile('sleepy.sh', '#!/bin/sh\n#PBS -N tq-qdel\necho "JOB must not run"\nsleep 600\n', 0o755);
    const { id } = vsub(['-vm', 'vcpus=1,ram=1G', 'sleepy.sh']);
    // Deleted once its VM is defined and booting.
    const until = performance.now() + 120_000;
    while (performance.now() < until && (await site.leftovers()).domains.length === 0) await new Promise((r) => setTimeout(r, 500));
    expect((await site.leftovers()).domains, 'the VM was booting').toHaveLength(1);
    const qdel = torque.asUser(USER, [join(TORQUE_PREFIX, 'bin', 'qdel'), id]);
    log(`qdel ${id} -> ${qdel.status} ${qdel.stdout}${qdel.stderr}`);
    const t = performance.now();
    const { out, err } = await finished(id, 'qdel', 180_000);
    log(`qdel: job complete ${((performance.now() - t) / 1000).toFixed(1)} s after qdel`);
    expect(`${out}${err}`).not.toContain('JOB must not run');
    await nothingLeft(id);
  }, BOOT_MS);

  it('a forged request (plain qsub) and a missing image: no VM, the reason delivered in .o and .e, exit 65', async () => {
    site.writeUserFile('forged.sh', forgedJobScript(site.prefix, { img: '/etc/shadow' }), 0o755);
    const forged = torque.asUser(USER, [QSUB, '-N', 'tq-forged', '-l', 'nodes=1:ppn=2,mem=3gb', 'forged.sh'], { cwd: site.work }).stdout.trim();
    const f = await finished(forged, 'forged', 120_000);
    expect(f.info.exit_status).toBe('65');
    expect(f.info.start_count).toBe('1');
    expect(f.out).toMatch(/vTorque: the VM job cannot start: img = "\/etc\/shadow".*The job is aborted\./);
    expect(f.err).toMatch(/^vTorque: the VM job cannot start: img = "\/etc\/shadow"/m);
    expect(`${f.out}${f.err}`).not.toContain('JOB must not run');
    await nothingLeft(forged);

    // An image that is in the pool at submit and gone when the job starts (held, removed, released).
    const extra = join(site.poolDir, 'extra.qcow2');
    expect(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', extra, '1G']).status).toBe(0);
    chmodSync(extra, 0o444);
    const { id } = vsub(['-h', '-N', 'tq-missing', '-vm', 'img=extra.qcow2,distro=debian,vcpus=1,ram=1G', 'plain.sh']);
    rmSync(extra);
    torque.asUser(USER, [join(TORQUE_PREFIX, 'bin', 'qrls'), id]);
    const m = await finished(id, 'missing image', 120_000);
    expect(m.info.exit_status).toBe('65');
    expect(m.err).toMatch(/^vTorque: the VM job cannot start: img = "extra\.qcow2"/m);
    await nothingLeft(id);
  }, 10 * 60_000);

  it('libvirtd down: requeued twice (no hot loop), then the job ends with the final reason delivered, exit 69', async () => {
    await site.stopLibvirtd();
    try {
      const { id } = vsub(['-N', 'tq-nolibvirt', '-vm', 'vcpus=1,ram=1G', 'plain.sh']);
      const { info, out, err } = await finished(id, 'libvirtd down', 5 * 60_000);
      expect(info.exit_status).toBe('69');
      expect(info.start_count).toBe('3');
      const retried = torque.serverLog(id).filter((l) => l.includes('retried due to a failed prologue'));
      expect(retried).toHaveLength(2);
      expect(out).toMatch(/vTorque: the VMs failed to start on this node 3 times \(last: libvirt open/);
      expect(out).not.toContain('attempt 2 of 3');
      expect(err).toMatch(/^vTorque: the VMs failed to start on this node 3 times/m);
      await site.startLibvirtd();
      await nothingLeft(id);
    } finally {
      await site.startLibvirtd();
    }
  }, 10 * 60_000);

  it('uninstall gives mom_priv back byte for byte: the site prologue as it was', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'dist', 'vtorque.mjs'), 'setup', '--uninstall', '--prefix', site.prefix, '--mom-priv', momPriv, '--config', site.configPath, '--profile-dir', join(site.opts.root, 'profile.d')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(momPrivSnapshot()).toEqual(before);
  });
});
