import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgedJobScript } from '../helpers/forged-job.js';
import { createVmSite, REPO, type VmSite } from '../e2e/helpers/vm-site.js';
import { realSlurm, type JobInfo } from './real-slurm.js';

// The installed hooks under the real Slurm 22.05 daemons (slurmctld, slurmd, munge from Debian),
// not an emulation: jobs submitted with the installed vsbatch (or a forged one with plain sbatch)
// as an unprivileged user; slurmd runs our Prolog and Epilog as root inside the sandbox's network
// namespace, which also holds libvirtd and the guests' network. What the user gets back is what
// Slurm delivers: the output file, the job's state and exit code (scontrol, sacct -c).
const NS = 'vtqslurm';
const USER = 'vtqe2e';
const NODE = 'vtqsl1';
const SUBNET = '10.213.44';
const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[slurm +${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const isRoot = process.getuid?.() === 0;
const BOOT_MS = 15 * 60_000;

const site: VmSite = createVmSite({
  name: NS,
  network: { name: 'vtq-slurm-net', bridge: 'vtqslurmbr0', subnet: SUBNET },
  root: process.env.VTQ_TEST_SLURM_DIR ?? '/var/tmp/vtorque-slurm',
  user: USER,
  log,
  scheduler: 'slurm',
  config: { TIMEOUT: 400, PROLOGUE_TIMEOUT: 500 },
});
const slurm = realSlurm({
  ns: NS,
  addr: `${SUBNET}.1`,
  stateDir: '/var/tmp/vtorque-slurm-cluster',
  clusterName: 'vtqtest',
  nodeName: NODE,
  ctldPort: 16827,
  slurmdPort: 16828,
  cpus: 2,
  realMemoryMiB: 8000,
  hooksInclude: join(site.prefix, 'lib', 'vtorque', 'hooks', 'slurm.conf'),
  // Slurm holds a requeued job back cred_expire seconds (120 by default): short here.
  credExpireSeconds: 15,
  log,
});

function vsbatch(args: readonly string[], stdin?: string): string {
  const r = slurm.asUser(USER, [join(site.prefix, 'bin', 'vsbatch'), ...args], { cwd: site.work, ...(stdin === undefined ? {} : { stdin }) });
  log(`vsbatch ${args.join(' ')} -> ${r.status}: ${r.stdout.trim()} ${r.stderr.trim()}`);
  expect(r.status, r.stderr).toBe(0);
  const id = /Submitted batch job (\d+)/.exec(r.stdout)?.[1];
  expect(id, r.stdout).toBeDefined();
  return id as string;
}

async function finished(id: string, what: string, timeoutMs = BOOT_MS): Promise<{ info: JobInfo; out: string }> {
  const info = await slurm.waitDone(id, timeoutMs);
  const path = (info.StdOut ?? '').replace(/%j/g, id);
  let out = '';
  for (let i = 0; i < 20; i++) {
    if (path !== '' && existsSync(path)) {
      out = readFileSync(path, 'utf8');
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`${what}: job ${id} ${info.JobState} ExitCode=${info.ExitCode} Restarts=${info.Restarts}`);
  for (const line of out.split('\n').filter(Boolean)) log(`  out| ${line}`);
  return { info, out };
}

/** Nothing of the job left: no domain, no vTorque state; the node idle, never drained. */
async function nothingLeft(): Promise<void> {
  await slurm.waitIdle(60_000);
  const left = await site.leftovers();
  expect({ domains: left.domains, jobDirs: left.jobDirs, records: left.records, cancel: left.cancelMarkers, mounts: left.mounts }).toEqual({ domains: [], jobDirs: [], records: [], cancel: [], mounts: [] });
  expect(slurm.node()).toEqual({ state: 'idle', reason: expect.not.stringMatching(/error/i) });
}


/** The install's files as an admin sees them (what uninstall must take away, leaving Slurm's own untouched). */
function slurmConfSnapshot(): string {
  return createHash('sha256').update(readFileSync(slurm.confPath)).digest('hex');
}

describe.skipIf(!isRoot)('the installed hooks under real Slurm 22.05 daemons (slow: TCG guests)', () => {
  let confBefore = '';
  beforeAll(async () => {
    await site.open();
    await slurm.up();
    confBefore = slurmConfSnapshot();
    site.writeUserFile('plain.sh', '#!/bin/sh\n#SBATCH -J sl-plain\necho "plain job on $(hostname) as $(id -un) in $SLURM_JOB_PARTITION"\n', 0o755);
    log(`site ready: ${site.uri}; slurm: ${slurm.confPath}`);
  }, 20 * 60_000);

  afterAll(async () => {
    try {
      await slurm.down();
    } finally {
      await site.close();
    }
  }, 10 * 60_000);

  it('setup --slurm wrote the include slurmd reads: our Prolog/Epilog, PrologFlags=Alloc, a PrologEpilogTimeout above the start deadline', () => {
    const text = readFileSync(join(site.prefix, 'lib', 'vtorque', 'hooks', 'slurm.conf'), 'utf8');
    expect(text).toContain(`Prolog=${join(site.prefix, 'lib', 'vtorque', 'hooks', 'slurm-prolog')}\n`);
    expect(text).toContain(`Epilog=${join(site.prefix, 'lib', 'vtorque', 'hooks', 'slurm-epilog')}\n`);
    expect(text).toContain('PrologFlags=Alloc\n');
    expect(Number(/^PrologEpilogTimeout=(\d+)$/m.exec(text)?.[1])).toBeGreaterThan(500);
    const show = slurm.asRoot(['scontrol', 'show', 'config']).stdout;
    expect(show).toMatch(new RegExp(`^Prolog\\s+= ${join(site.prefix, 'lib', 'vtorque', 'hooks', 'slurm-prolog')}$`, 'm'));
    const doctor = slurm.asRoot([process.execPath, join(site.prefix, 'lib', 'vtorque', 'dist', 'vtorque.mjs'), 'doctor', '--slurm', '--config', site.configPath]);
    log(`doctor --slurm -> ${doctor.status}\n${doctor.stdout}${doctor.stderr}`);
    expect(`${doctor.stdout}${doctor.stderr}`).not.toMatch(/problem: slurm/);
  });

  it('a plain job passes through vsbatch and our hooks untouched: output and exit code back, Node never started', async () => {
    const id = vsbatch(['plain.sh']);
    const { info, out } = await finished(id, 'plain', 120_000);
    expect(info.JobState).toBe('COMPLETED');
    expect(out).toBe(`plain job on ${readFileSync('/proc/sys/kernel/hostname', 'utf8').trim()} as ${USER} in batch\n`);
    expect(existsSync(join(site.opts.root, 'log', 'slurm-prolog.log'))).toBe(false);
    await nothingLeft();
  });

  it("a VM job: its guest output and exit code come back in the output file, scontrol's and sacct's ExitCode", async () => {
    site.writeUserFile('vm.sh', '#!/bin/sh\n#SBATCH -J sl-vm\necho "JOB in $(hostname) as $(id -un), SLURM_JOB_ID=$SLURM_JOB_ID nodes=$SLURM_JOB_NODELIST"\ncat "$SLURM_HOSTFILE"\necho "JOB to stderr" >&2\nexit 3\n', 0o755);
    // --follow: the start as it happens, then exit 0 once the script starts in the VM.
    const r = slurm.asUser(USER, [join(site.prefix, 'bin', 'vsbatch'), '--follow', '--vm', 'vcpus=1,ram=1G', 'vm.sh'], { cwd: site.work, timeoutMs: BOOT_MS });
    log(`vsbatch --follow -> ${r.status}: ${r.stdout.trim()}\n${r.stderr.trim()}`);
    expect(r.status, r.stderr).toBe(0);
    const id = /Submitted batch job (\d+)/.exec(r.stdout)?.[1] as string;
    expect(r.stderr).toMatch(new RegExp(`^vsbatch: job ${id}: vTorque: 1 VM\\(s\\) ready in `, 'm'));
    const { info, out } = await finished(id, 'vm');
    expect(info.JobState).toBe('FAILED');
    expect(info.ExitCode).toBe('3:0');
    expect(info.Restarts).toBe('0');
    expect(slurm.sacctExit(id)).toBe('3:0');
    // The start's last word, for `scontrol show job` while it booted and after.
    expect(info.AdminComment).toMatch(/^vTorque: 1 VM\(s\) ready in \d+/);
    expect(out).toMatch(new RegExp(`JOB in vvtqsl1-1 as ${USER}, SLURM_JOB_ID=${id} nodes=${SUBNET.replace(/\./g, '\\.')}\\.\\d+`));
    expect(out).toMatch(new RegExp(`^${SUBNET.replace(/\./g, '\\.')}\\.\\d+$`, 'm'));
    expect(out).toContain('JOB to stderr');
    await nothingLeft();
    // Its history stays for its owner (and root) on the node: the start, one bar per VM, the end.
    const st = slurm.asUser(USER, [join(site.prefix, 'bin', 'vtorque'), 'status', id, '--config', site.configPath]);
    log(`vtorque status ${id} -> ${st.status}\n${st.stdout}${st.stderr}`);
    expect(st.status, st.stderr).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`^job ${id} \\(Slurm\\), owner ${USER}: ended; 1 start\\(s\\)$`, 'm'));
    expect(st.stdout).toMatch(/^start 1 at .* on vtqsl1: ready after \d+\.\ds$/m);
    expect(st.stdout).toMatch(new RegExp(`^ {2}vtq-${id}-vtqsl1-1 vtqsl1 {2}\\[p*b*~+s+=*n*\\.*\\] address \\d+\\.\\ds, SSH \\d+\\.\\ds$`, 'm'));
    expect(st.stdout).toMatch(/^ended .*: 1 VM\(s\) torn down; nothing left$/m);
    // nobody's home does not exist: run from /.
    const other = slurm.asUser('nobody', [join(site.prefix, 'bin', 'vtorque'), 'status', id, '--config', site.configPath], { cwd: '/' });
    expect(other.status).toBe(1);
    expect(other.stderr).toMatch(/its status on this node is not yours to read/);
  }, BOOT_MS);

  it('a STDIN VM job runs in its VM', async () => {
    const id = vsbatch(['--vm', 'vcpus=1,ram=1G'], '#!/bin/sh\necho "STDIN job in $(hostname)"\n');
    const { info, out } = await finished(id, 'stdin');
    expect(info.JobState).toBe('COMPLETED');
    expect(out).toContain('STDIN job in vvtqsl1-1');
    await nothingLeft();
  }, BOOT_MS);

  it('scancel during the boot: the VMs go, nothing is left, the node idle and not drained', async () => {
    site.writeUserFile('sleepy.sh', '#!/bin/sh\necho "JOB must not run"\nsleep 600\n', 0o755);
    const id = vsbatch(['--vm', 'vcpus=1,ram=1G', 'sleepy.sh']);
    const until = performance.now() + 120_000;
    while (performance.now() < until && (await site.leftovers()).domains.length === 0) await new Promise((r) => setTimeout(r, 500));
    expect((await site.leftovers()).domains, 'the VM was booting').toHaveLength(1);
    const cancel = slurm.asUser(USER, ['scancel', id]);
    expect(cancel.status, cancel.stderr).toBe(0);
    const t = performance.now();
    const { info, out } = await finished(id, 'scancel', 180_000);
    await nothingLeft();
    log(`scancel: nothing left ${((performance.now() - t) / 1000).toFixed(1)} s after scancel`);
    expect(info.JobState).toBe('CANCELLED');
    expect(out).not.toContain('JOB must not run');
  }, BOOT_MS);

  it('a forged request (plain sbatch) is refused on the node: the job fails with the reason in its output, the node is not drained', async () => {
    site.writeUserFile('forged.sh', forgedJobScript(site.prefix, { img: '/etc/shadow' }), 0o755);
    const sub = slurm.asUser(USER, ['sbatch', '--comment=vtorque-vm', '-c', '2', '--mem=3G', 'forged.sh'], { cwd: site.work });
    const id = /Submitted batch job (\d+)/.exec(sub.stdout)?.[1] as string;
    expect(id, `${sub.stdout}${sub.stderr}`).toBeDefined();
    const { info, out } = await finished(id, 'forged', 120_000);
    expect(info.JobState).toBe('FAILED');
    expect(info.ExitCode).toBe('65:0');
    expect(out).toMatch(/^vTorque: the VM job cannot start: img = "\/etc\/shadow"/m);
    expect(out).not.toContain('JOB must not run');
    await nothingLeft();
  }, 10 * 60_000);

  it('libvirtd down: requeued (bounded by the restart count), then failed with the final reason; never drained', async () => {
    await site.stopLibvirtd();
    try {
      const id = vsbatch(['-J', 'sl-nolibvirt', '--vm', 'vcpus=1,ram=1G', 'plain.sh']);
      // Each requeue holds the job back past cred_expire (15 s here): within it slurmd would skip the Prolog.
      let seen = 0;
      const comments: string[] = [];
      const requeued = await slurm.waitFor(id, (j) => {
        if (Number(j.Restarts) > seen) {
          seen = Number(j.Restarts);
          log(`requeued: Restarts=${j.Restarts} StartTime=${j.StartTime} AdminComment=${j.AdminComment ?? ''}`);
        }
        if (j.AdminComment && comments.at(-1) !== j.AdminComment) comments.push(j.AdminComment);
        return ['FAILED', 'COMPLETED', 'CANCELLED'].includes(j.JobState ?? '');
      }, 6 * 60_000);
      // What the owner saw in scontrol show job: each requeue's reason, then why the last start failed.
      expect(comments.some((x) => /^vTorque: the VMs failed to start \(attempt 2 of 3\): libvirt open/.test(x)), comments.join('\n')).toBe(true);
      expect(requeued.AdminComment).toMatch(/^vTorque: the VMs did not start: libvirt open/);
      const { info: done, out } = await finished(id, 'libvirtd down', 60_000);
      expect(done.JobState).toBe('FAILED');
      expect(done.Restarts).toBe('2');
      expect(out).toMatch(/^vTorque: the VMs failed to start on vtqsl1 3 times \(last: libvirt open/m);
      expect(slurm.node().state).toBe('idle');
      await site.startLibvirtd();
      await nothingLeft();
    } finally {
      await site.startLibvirtd();
    }
  }, 12 * 60_000);

  it("uninstall refuses while slurmd runs our hooks; once Slurm no longer names them it takes our files away, Slurm's own config as it was", async () => {
    const hooks = join(site.prefix, 'lib', 'vtorque', 'hooks');
    expect(readdirSync(hooks).sort()).toEqual(['slurm-epilog', 'slurm-prolog', 'slurm.conf']);
    expect(statSync(join(hooks, 'slurm-prolog')).mode & 0o777).toBe(0o500);
    const uninstall = [process.execPath, join(REPO, 'dist', 'vtorque.mjs'), 'setup', '--slurm', '--uninstall', '--prefix', site.prefix, '--config', site.configPath, '--profile-dir', join(site.opts.root, 'profile.d')];
    const refused = slurm.asRoot(uninstall);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/Slurm still runs this install's hooks \(Prolog=.*slurm-prolog, Epilog=.*slurm-epilog\): without them slurmd drains the node; take the Include line out of slurm\.conf and run scontrol reconfigure first/);
    expect(existsSync(join(hooks, 'slurm-prolog'))).toBe(true);
    await slurm.down();
    const done = slurm.asRoot(uninstall);
    expect(done.status, done.stderr).toBe(0);
    expect(existsSync(join(site.prefix, 'lib'))).toBe(false);
    expect(existsSync(join(site.prefix, 'bin', 'vsbatch'))).toBe(false);
    expect(slurmConfSnapshot()).toBe(confBefore);
  });
});
