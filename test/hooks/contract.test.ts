import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../src/core/config/index.js';
import { jobDirName } from '../../src/core/contract/job-state.v1.js';
import { layoutAt } from '../../src/core/install/paths.js';
import { writeJobRecord } from '../../src/engine/index.js';
import { resolveOwner, startJob, stopJobHere } from '../../src/lifecycle/index.js';
import { engineSite } from '../engine/engine-harness.js';
import { agentCommand } from '../helpers/node-agents.js';
import { BASE_REQUEST, callHook, DEAD_URI, entries, epilogueArgv, HOST, IMAGE, makeHookSite, prologueArgv, REPO, stageJob, TEST_USER, unstageJob, vmJobScript, type DirectJob, type HookSite } from './fixture.js';

// Torque contract tests of OUR installed hooks (vtorque setup into a temp prefix, fronting a temp
// mom_priv that had site hooks), driven by run-local exactly as pbs_mom 6.1 drives them, or called
// directly with pbs_mom's argv/env/cwd. libvirt is the in-process test driver (each hook process
// has fresh state; domain type `test` skips IP/SSH waits), so the prologue boots "VMs" at once and
// the job runner then fails for lack of an IP: expected in this tier (the e2e tier has real guests).
let s: HookSite;
beforeAll(async () => {
  s = await makeHookSite();
}, 60_000);
afterAll(() => s?.cleanup());
beforeEach(() => s.reset());

const vmJob = ['-vm', 'vcpus=1', 'job.sh'];
const plainJob = ['-l', 'walltime=00:05:00', 'job.sh'];
/** VM state dirs under SPOOL_DIR/jobs. */
const stateDirs = (): string[] => entries(join(s.spool, 'jobs'));
const attemptFiles = (): string[] => entries(join(s.spool, 'attempts'));
const cancelMarkers = (): string[] => entries(join(s.spool, 'cancel'));
/** The Node side's logs: a file appears as soon as that hook's Node process starts. */
const nodeLogs = (): string[] => entries(s.logDir);
/** A site epilogue snippet recording which VM state dirs exist when the epilogue starts (before our teardown). */
const recordStateSnippet = (): string => `ls '${join(s.spool, 'jobs')}' > '${s.ctl}/state-at-epilogue' 2>/dev/null`;
const stateAtEpilogue = (): string => s.ctlFile('state-at-epilogue');

describe('1. plain jobs never start Node', () => {
  it('runs a plain job to completion through our fronts with libvirt dead; no Node hook log appears', async () => {
    s.configure({ LIBVIRT_URI: DEAD_URI }); // Node would fail (and log) if it were ever started
    const r = await s.run(plainJob);
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 0, canceled: false, attempts: [{ prologueRc: 0, epilogueRc: 0, exitStatus: 0 }] });
    expect(r.stdout).toBe(`plain job on ${HOST} as ${TEST_USER}\n`);
    expect(r.stderr).toBe('plain job stderr\n');
    expect(r.hooks.map((h) => [h.hook, h.rc])).toEqual([['prologue', 0], ['epilogue', 0]]);
    expect(nodeLogs()).toEqual([]); // no prologue.log, no epilogue.log
    // The site's own hooks still ran, with pbs_mom's argv, as root.
    expect(s.siteRuns('prologue')).toEqual([[8, 0]]);
    expect(s.siteRuns('epilogue')).toEqual([[11, 0]]);
    expect(stateDirs()).toEqual([]);
  });
});

describe('2. a VM job with the libvirt test driver', () => {
  it('prologue 0 with our progress lines; the runner fails (no IP); the epilogue removes the state dir', async () => {
    s.site('epilogue', { sh: recordStateSnippet() });
    const r = await s.run(vmJob);
    expect(r.verdict).toBe('run');
    expect(r.attempts).toEqual([expect.objectContaining({ prologueRc: 0, epilogueRc: 0 })]);
    expect(r.stdout).toMatch(/planned 1 VM\(s\): \S+ \(1 vCPU, 256 MiB\)/);
    expect(r.stdout).toMatch(/vTorque: 1 VM\(s\) ready in \d+\.\d s \(.*\); the job starts in \S+/);
    expect(r.stderr).toContain('has no IP address');
    expect(r.exitStatus).not.toBe(0);
    expect(r.attempts[0]?.exitStatus).toBe(r.exitStatus);
    // Created by the prologue (still there when the epilogue started), removed by the epilogue.
    expect(stateAtEpilogue()).toBe(`${jobDirName(r.jobId)}\n`);
    expect(stateDirs()).toEqual([]);
    expect(attemptFiles()).toEqual([]); // only node faults leave a counter
    expect(cancelMarkers()).toEqual([]);
    expect(nodeLogs()).toEqual(['epilogue.log', 'prologue.log']);
  });
});

describe('3. the site hooks (.orig) are chained and their verdicts kept', () => {
  it('setup moved the site hooks to <hook>.orig and linked ours in their place', () => {
    for (const hook of ['prologue', 'epilogue', 'epilogue.precancel'] as const) {
      const link = join(s.momPriv, hook);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe(join(s.hooksDir, hook));
      expect(statSync(link).mode & 0o7777).toBe(hook === 'epilogue.precancel' ? 0o555 : 0o500);
      expect(statSync(link).uid).toBe(0);
      expect(readFileSync(`${link}.orig`, 'utf8')).toContain(`'${s.ctl}'/${hook}`);
      expect(statSync(`${link}.orig`).mode & 0o7777).toBe(hook === 'epilogue.precancel' ? 0o555 : 0o700);
    }
    expect(s.setupLines).toContain(`rename ${join(s.momPriv, 'prologue')} -> prologue.orig`);
  });

  it('(a) prologue.orig exits 0 and prints: its line is in the .OU, then the VM job runs', async () => {
    s.site('prologue', { say: 'site prologue: checked the scratch fs' });
    const r = await s.run(vmJob);
    expect(r.attempts).toEqual([expect.objectContaining({ prologueRc: 0, epilogueRc: 0 })]);
    expect(r.stdout.split('\n')[0]).toBe('site prologue: checked the scratch fs');
    expect(r.stdout).toMatch(/VM\(s\) ready in/);
    expect(r.stderr).toContain('has no IP address');
    expect(s.siteRuns('prologue')).toEqual([[8, 0]]);
    expect(stateDirs()).toEqual([]);
  });

  it('(b) prologue.orig exits 1: aborted, our Node prologue never ran, the epilogue still ran (its site part only)', async () => {
    s.site('prologue', { rc: 1, say: 'site prologue: node unhealthy' });
    const r = await s.run(vmJob, { maxStarts: 3 });
    expect(r).toMatchObject({ verdict: 'aborted', exitStatus: -2, attempts: [{ prologueRc: 1, epilogueRc: 0, exitStatus: -2 }] });
    // As a real pbs_mom: an aborting prologue's output is never delivered; it stays in the spool.
    expect(r.stdout).toBe('');
    expect(r.spool.stdout).toBe('site prologue: node unhealthy\n');
    // Nothing was started, so nothing is recorded: neither hook starts Node.
    expect(nodeLogs()).toEqual([]);
    expect(s.siteRuns('epilogue')).toEqual([[11, 0]]);
    expect(stateDirs()).toEqual([]);
    expect(cancelMarkers()).toEqual([]); // the front's early cancel directory went with the refusal
  });

  it('(b2) prologue.orig exits 2: kept as a requeue, Node not started', async () => {
    s.site('prologue', { rc: 2 });
    const r = await s.run(vmJob, { maxStarts: 2 });
    expect(r.verdict).toBe('requeued-limit');
    expect(r.attempts.map((a) => [a.prologueRc, a.epilogueRc])).toEqual([[2, 0], [2, 0]]);
    expect(nodeLogs()).toEqual([]);
    expect(attemptFiles()).toEqual([]); // the site's faults are not counted as ours
  });

  it('(c) epilogue.orig exits 3: the epilogue returns 3 and our teardown still happened', async () => {
    s.site('epilogue', { rc: 3, sh: recordStateSnippet() });
    const r = await s.run(vmJob);
    expect(r.attempts).toEqual([expect.objectContaining({ prologueRc: 0, epilogueRc: 3 })]);
    expect(r.verdict).toBe('run');
    expect(stateAtEpilogue()).toBe(`${jobDirName(r.jobId)}\n`);
    expect(stateDirs()).toEqual([]);
  });
});

describe('4. exit-code mapping: node faults requeue, but never in a hot loop', () => {
  it('libvirt unreachable: prologue 2, 2, then the job runs only to say why (exit 69), nothing left', async () => {
    s.configure({ LIBVIRT_URI: DEAD_URI });
    // Torque recreates the .OU at each start: the site epilogue keeps a copy of every start's,
    // and of our node-fault counter as the epilogue finds it.
    const all = `'${s.ctl}/ou-all'`;
    s.site('epilogue', { sh: `cat "$(readlink /proc/$$/fd/1)" >> ${all}; echo "counter: $(cat '${s.spool}/attempts'/* 2>/dev/null)" >> ${all}; echo '--- end of start' >> ${all}` });
    const r = await s.run(vmJob, { maxStarts: 5 });
    expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 2, 0]);
    expect(r.attempts.map((a) => a.exitStatus)).toEqual([-14, -14, 69]);
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 69 });
    const starts = s.ctlFile('ou-all').split('--- end of start\n').filter(Boolean);
    expect(starts).toHaveLength(3);
    expect(starts[0]).toMatch(/vTorque: the VMs failed to start \(attempt 1 of 3\): libvirt open .*\. This is a problem of the node, not of the job: Torque will requeue the job\./);
    expect(starts[1]).toContain('failed to start (attempt 2 of 3)');
    expect(starts[2]).toMatch(/failed to start on this node 3 times \(last: libvirt open .*\)\. The job is aborted\./);
    expect(starts.map((t) => /counter: (.*)\n/.exec(t)?.[1])).toEqual(['1', '2', '']); // kept across requeues, dropped at the abort
    // What the user gets is the last start's: the final reason, in .o (prologue) and .e (the job).
    expect(r.stdout).toContain('3 times');
    expect(r.stdout).not.toContain('attempt 2 of 3');
    expect(r.stderr).toMatch(/^vTorque: the VMs failed to start on this node 3 times \(last: libvirt open .*\)\.\n$/);
    // Each failed start undid itself (it had made nothing but its record): the epilogue has
    // nothing to do, says nothing and needs no libvirt.
    expect(r.attempts.map((a) => a.epilogueRc)).toEqual([0, 0, 0]);
    expect(r.stdout).not.toContain('teardown');
    expect(entries(join(s.spool, 'records'))).toEqual([]);
    expect(stateDirs()).toEqual([]);
    expect(attemptFiles()).toEqual([]); // the job is over: its fault counter goes with it
  }, 60_000);

  it('a transient node fault: requeued once, the second start boots and drops the counter', async () => {
    const good = join(s.ctl, 'good.yaml');
    writeFileSync(good, readFileSync(s.configPath));
    s.configure({ LIBVIRT_URI: DEAD_URI });
    // libvirt "comes back" during the first start's epilogue (the site's part runs before ours).
    s.site('epilogue', { sh: `cp '${good}' '${s.configPath}'; echo "counter: $(cat '${s.spool}/attempts'/* 2>/dev/null)" >> '${s.ctl}/counters'` });
    const r = await s.run(vmJob, { maxStarts: 5 });
    expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 0]);
    expect(r.verdict).toBe('run');
    expect(r.stdout).toMatch(/VM\(s\) ready in/);
    expect(s.ctlFile('counters')).toBe('counter: 1\ncounter: \n');
    expect(attemptFiles()).toEqual([]);
    expect(stateDirs()).toEqual([]);
  }, 30_000);
});

describe('5. a request or policy error ends the job at once with its reason delivered (no requeue)', () => {
  it('the image vanished from the pool between submit and prologue: the job runs only to say why, exit 65', async () => {
    s.site('prologue', { sh: `rm -f '${join(s.pool, IMAGE)}'` }); // runs as root just before our Node prologue
    const r = await s.run(vmJob, { maxStarts: 5 });
    // A prologue that exits 1 delivers nothing under real Torque: it lets the job run, the runner says why.
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 65, attempts: [{ prologueRc: 0, exitStatus: 65 }] });
    expect(r.stdout).toMatch(/vTorque: the VM job cannot start: img = "debian-12-x86_64\.qcow2".*\. The job is aborted\.\n/);
    expect(r.stderr).toMatch(/^vTorque: the VM job cannot start: img = "debian-12-x86_64\.qcow2".*\.\n$/);
    expect(nodeLogs()).toContain('prologue.log');
    expect(attemptFiles()).toEqual([]);
    expect(stateDirs()).toEqual([]);
    expect(entries(join(s.spool, 'records'))).toEqual([]);
  });

  it('more vCPUs than PBS_NODEFILE gives the job (called directly as pbs_mom does)', async () => {
    const job = stageJob(s, `501.${HOST}`, vmJobScript({ vcpus: 2 }), 1);
    try {
      const pro = await callHook(s, 'prologue', prologueArgv(job), job.nodefile);
      expect(pro.rc).toBe(0);
      expect(pro.stdout).toContain(`vTorque: the VM job cannot start: Torque gave this job 1 core(s) on ${HOST}, its VMs need 3 (1 x 2 vCPUs + 1 for the host)`);
      expect(pro.stdout).toContain('The job is aborted.');
      expect(attemptFiles()).toEqual([]);
      // Only the outcome for the runner, the owner's 0400; no VM, and a record that names none.
      const outcome = join(s.spool, 'jobs', jobDirName(job.jobId), 'outcome.json');
      expect(JSON.parse(readFileSync(outcome, 'utf8'))).toMatchObject({ fault: 'job', exitCode: 65 });
      expect([statSync(outcome).uid, statSync(outcome).mode & 0o777]).toEqual([s.uid, 0o400]);
      expect(entries(join(s.spool, 'jobs', jobDirName(job.jobId)))).toEqual(['outcome.json']);
      await callHook(s, 'epilogue', epilogueArgv(job, { exit: 65 }), job.nodefile);
      expect(stateDirs()).toEqual([]);
      expect(entries(join(s.spool, 'records'))).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  });
});

describe('6. older Torque: no .SC argument, derived from TORQUE_HOME/mom_priv/jobs/<jobid>.SC', () => {
  it('plain job: prologue with 7 and epilogue with 10 arguments pass through (rc 0, no Node)', async () => {
    const job = stageJob(s, `601.${HOST}`, '#!/bin/sh\necho plain\n', 2);
    try {
      const pro = await callHook(s, 'prologue', prologueArgv(job, false), job.nodefile);
      expect(pro).toMatchObject({ rc: 0, stdout: '' });
      const epi = await callHook(s, 'epilogue', epilogueArgv(job, { session: '4242', used: 'cput=00:00:00', withScript: false }), job.nodefile);
      expect(epi).toMatchObject({ rc: 0, stdout: '' });
      expect(s.siteRuns('prologue')).toEqual([[7, 0]]);
      expect(s.siteRuns('epilogue')).toEqual([[10, 0]]);
      expect(nodeLogs()).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  });

  it('VM job: the 7-argument prologue finds the .SC and boots; the 10-argument epilogue tears down', async () => {
    const job = stageJob(s, `602.${HOST}`, vmJobScript(), 2);
    try {
      const pro = await callHook(s, 'prologue', prologueArgv(job, false), job.nodefile);
      expect(pro.stdout).toMatch(/planned 1 VM\(s\)/);
      expect(pro.stdout).toMatch(/vTorque: 1 VM\(s\) ready in/);
      expect(pro.rc).toBe(0);
      expect(stateDirs()).toEqual([jobDirName(job.jobId)]);
      const epi = await callHook(s, 'epilogue', epilogueArgv(job, { session: '4242', used: 'cput=00:00:00', exit: 1, withScript: false }), job.nodefile);
      expect(epi.rc).toBe(0);
      expect(stateDirs()).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  });
});

describe('7. pbs_mom permission checks apply to the installed hook', () => {
  it('a group-writable prologue target is refused (rc -1) and the job requeued, never executed', async () => {
    const target = join(s.hooksDir, 'prologue');
    chmodSync(target, 0o520);
    try {
      const r = await s.run(plainJob, { maxStarts: 2 });
      expect(r.hooks.filter((h) => h.hook === 'prologue').map((h) => h.rc)).toEqual([-1, -1]);
      expect(r).toMatchObject({ verdict: 'requeued-limit', exitStatus: -14 });
      expect(s.siteRuns('prologue')).toEqual([]); // not even the front ran
      expect(s.siteRuns('epilogue')).toHaveLength(2);
    } finally {
      chmodSync(target, 0o500);
    }
  });
});

describe('8. $prologalarm', () => {
  it('13 s (alarm 3 s) kills a 20 s prologue.orig: rc -4, the epilogue still runs and leaves nothing', async () => {
    s.site('prologue', { sleep: 20 });
    const r = await s.run(vmJob, { prologalarm: 13, maxStarts: 1 });
    const pro = r.hooks.find((h) => h.hook === 'prologue');
    expect(pro?.rc).toBe(-4);
    expect(pro?.ms).toBeGreaterThanOrEqual(2900);
    expect(pro?.ms).toBeLessThan(6000);
    expect(r).toMatchObject({ verdict: 'requeued-limit', attempts: [{ prologueRc: -4, epilogueRc: 0, exitStatus: -14 }] });
    expect(nodeLogs()).toEqual([]); // killed in the site's part: our Node prologue never began
    expect(stateDirs()).toEqual([]);
    expect(attemptFiles()).toEqual([]);
  }, 30_000);
});

describe('9. epilogue.precancel runs as the owner and only makes a marker in the job\'s own cancel directory', () => {
  /** The installed precancel as pbs_mom runs it (as the owner), from a root-run site prologue: a qdel landing mid-prologue. */
  const qdelFromSitePrologue = (): string =>
    `setpriv --reuid=${s.uid} --regid=${s.uid} --clear-groups -- '${join(s.momPriv, 'epilogue.precancel')}' "$1" "$2" "$3" "$4" 0 "$5" '' "$6" "$7" 0 "$8"; ` +
    `stat -c %u '${join(s.spool, 'cancel')}'/"$1"/requested > '${s.ctl}/marker-owner' 2>/dev/null`;

  it('qdel while the site prologue still runs: the marker in the owner\'s directory stops the Node prologue ("cancelled"), nothing is left', async () => {
    s.site('prologue', { sleep: 2 }); // the cancel lands while the site prologue still runs
    const r = await s.run(vmJob, { cancelAfter: 0.5, maxStarts: 3 });
    expect(r.hooks.map((h) => [h.hook, h.rc])).toEqual([['epilogue.precancel', 0], ['prologue', 0], ['epilogue', 0]]);
    expect(r).toMatchObject({ verdict: 'aborted', exitStatus: 271, canceled: true });
    expect(r.stdout).toContain('vTorque: the VM job cannot start: the job was cancelled before its VMs started. The job is aborted.');
    expect(s.siteRuns('epilogue.precancel')).toEqual([[11, s.uid]]);
    expect(cancelMarkers()).toEqual([]);
    expect(entries(join(s.spool, 'records'))).toEqual([]);
    expect(stateDirs()).toEqual([]);
    expect(attemptFiles()).toEqual([]);
  });

  it('called directly: before any start there is no directory (nothing made); during one the marker is the owner\'s and the prologue exits 1 "cancelled"', async () => {
    const job = stageJob(s, `901.${HOST}`, vmJobScript(), 2);
    try {
      const pc = await callHook(s, 'epilogue.precancel', epilogueArgv(job, { session: '4242', exit: 0 }));
      expect(pc).toMatchObject({ rc: 0, stdout: '' });
      expect(cancelMarkers()).toEqual([]);
      expect(nodeLogs()).toEqual([]); // precancel never starts Node (it blocks pbs_mom)
      s.site('prologue', { sh: qdelFromSitePrologue() });
      const pro = await callHook(s, 'prologue', prologueArgv(job), job.nodefile);
      expect(pro.rc).toBe(0); // the job "runs" only to say why, where Torque delivers it
      expect(pro.stdout).toContain('cancelled');
      expect(s.ctlFile('marker-owner')).toBe(`${s.uid}\n`);
      expect(JSON.parse(readFileSync(join(s.spool, 'jobs', jobDirName(job.jobId), 'outcome.json'), 'utf8'))).toMatchObject({ fault: 'cancel', exitCode: 143 });
      const epi = await callHook(s, 'epilogue', epilogueArgv(job, { exit: 271 }), job.nodefile);
      expect(epi.rc).toBe(0);
      expect(cancelMarkers()).toEqual([]);
      expect(stateDirs()).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  });

  it('qdel of a plain job: precancel makes nothing, Node never starts', async () => {
    writeFileSync(join(s.work, 'sleepy.sh'), '#!/bin/sh\nsleep 20\n', { mode: 0o755 });
    chownSync(join(s.work, 'sleepy.sh'), s.uid, s.uid);
    const r = await s.run(['sleepy.sh'], { cancelAfter: 1 });
    expect(r.hooks.map((h) => [h.hook, h.rc])).toEqual([['prologue', 0], ['epilogue.precancel', 0], ['epilogue', 0]]);
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 271, canceled: true });
    expect(cancelMarkers()).toEqual([]);
    expect(nodeLogs()).toEqual([]);
  });

  it('a directory another user planted where the job\'s goes (an older sticky cancel dir) is replaced: the job boots, the parent becomes root 0711', async () => {
    const dir = join(s.spool, 'cancel');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o1733);
    const job = stageJob(s, `902.${HOST}`, vmJobScript(), 2);
    try {
      // As nobody (65534), before the job starts: the victim's predictable job id, with a marker in it.
      const plant = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'mkdir', '-p', join(dir, job.jobId, 'requested')]);
      expect(plant.status).toBe(0);
      expect(statSync(join(dir, job.jobId)).uid).toBe(65534);
      const pro = await callHook(s, 'prologue', prologueArgv(job), job.nodefile);
      expect(pro.rc).toBe(0);
      expect(pro.stdout).not.toContain('cancelled');
      expect(statSync(dir).mode & 0o7777).toBe(0o711);
      expect([statSync(join(dir, job.jobId)).uid, statSync(join(dir, job.jobId)).mode & 0o7777]).toEqual([s.uid, 0o700]);
      expect(entries(join(dir, job.jobId))).toEqual([]);
      // Nobody else can make or enter an entry there now.
      expect(spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'mkdir', join(dir, job.jobId, 'requested')]).status).not.toBe(0);
      expect(spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'mkdir', join(dir, '903.x')]).status).not.toBe(0);
      await callHook(s, 'epilogue', epilogueArgv(job), job.nodefile);
      expect(cancelMarkers()).toEqual([]);
      expect(stateDirs()).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  });
});

describe('10. self-check: the hooks refuse to run from files someone other than root could change', () => {
  it('a group-writable template or config stops the VM prologue with the exact fix; a plain job is unaffected', async () => {
    const template = join(s.prefix, 'lib', 'vtorque', 'templates-vm', 'domain-linux.xml.hbs');
    const job = stageJob(s, `1001.${HOST}`, vmJobScript(), 2);
    try {
      chmodSync(template, 0o464);
      const pro = await callHook(s, 'prologue', prologueArgv(job), job.nodefile);
      expect(pro.rc).toBe(1);
      expect(pro.stdout).toContain(`vTorque: refusing to run: ${template}: writable by group; fix: chmod go-w ${template}`);
      expect(pro.stdout).not.toMatch(/planned/);
      chmodSync(template, 0o444);
      chmodSync(s.configPath, 0o666);
      const again = await callHook(s, 'prologue', prologueArgv(job), job.nodefile);
      expect(again.rc).toBe(1);
      expect(again.stdout).toContain(`fix: chmod go-w ${s.configPath}`);
    } finally {
      chmodSync(template, 0o444);
      chmodSync(s.configPath, 0o644);
      unstageJob(s, job);
    }
  });
});

describe('11. teardown never depends on the owner-editable .SC (Torque chowns it to the owner at job start)', () => {
  it.each([
    ['rewritten as a plain script', '#!/bin/sh\necho now a plain job\n'],
    ['with a malformed request line', '#!/bin/sh\n#VTORQUE-REQUEST v1 !!!not-base64-json\necho x\n'],
  ])('%s after the prologue booted: the epilogue still tears down', async (_label, rewritten) => {
    const job = stageJob(s, `11${_label.length}.${HOST}`, vmJobScript(), 2);
    try {
      const pro = await callHook(s, 'prologue', prologueArgv(job), job.nodefile);
      expect(pro.rc).toBe(0);
      const stateDir = join(s.spool, 'jobs', jobDirName(job.jobId));
      expect(lstatSync(stateDir).isDirectory()).toBe(true);
      chownSync(job.sc, s.uid, s.uid);
      writeFileSync(job.sc, rewritten);
      const epi = await callHook(s, 'epilogue', epilogueArgv(job, { session: '4242', used: 'cput=00:00:00' }), job.nodefile);
      expect(epi.rc).toBe(0);
      expect(entries(join(s.spool, 'jobs'))).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  });
});

describe('12. multi-node VM jobs: the mother superior boots every node through its agent, each sister reaps its own part', () => {
  const RESOURCES = 'nodes=2:ppn=2,neednodes=2:ppn=2,mem=1gb';
  const quiet = { info: () => undefined, warn: () => undefined };
  /** This site's config on another host: its own spool (an agent gives it its own libvirt). */
  const elsewhere = (): SiteConfig => {
    const e = engineSite();
    return { ...s.config(), SPOOL_DIR: e.config.SPOOL_DIR, RAMDISK_DIR: e.config.RAMDISK_DIR };
  };
  /** A job as a sister mom knows it: no .SC (Torque sends the script to the mother superior only), no PBS_NODEFILE. */
  const onSister = (jobId: string): DirectJob => ({ jobId, sc: join(s.jobsDir, `${jobId}.SC`), nodefile: '' });
  /** Every file of a job's state dir, as text: the NoCloud seeds carry the guest's job environment verbatim. */
  const filesText = (dir: string): string =>
    (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f)).filter((f) => statSync(f).isFile()).map((f) => readFileSync(f, 'latin1')).join('\n');

  it('prologue on the mother superior: one VM here and one on the sister in rank order, the guest told the layout; the epilogue tears both down', async () => {
    const n2 = elsewhere();
    s.configure({ NODE_AGENT_COMMAND: agentCommand(join(s.ctl, 'agents'), { n2 }) });
    const job = stageJob(s, `1201.${HOST}`, vmJobScript(), 2, ['n2']);
    const dir = jobDirName(job.jobId);
    try {
      const pro = await callHook(s, 'prologue', prologueArgv(job, true, RESOURCES), job.nodefile);
      expect(pro.rc, pro.stdout + pro.stderr).toBe(0);
      expect(pro.stdout).toContain("reaching the job's other node(s): n2");
      expect(pro.stdout).toMatch(/planned 2 VM\(s\)/);
      expect(pro.stdout).toMatch(/vTorque: 2 VM\(s\) ready in/);
      expect(entries(join(n2.SPOOL_DIR, 'jobs'))).toEqual([dir]);
      const { vms } = JSON.parse(readFileSync(join(s.spool, 'jobs', dir, 'job.json'), 'utf8')) as { vms: { node: string; rank: number }[] };
      expect(vms.map((v) => [v.rank, v.node])).toEqual([[0, HOST], [1, 'n2']]);
      for (const spool of [s.spool, n2.SPOOL_DIR]) {
        const seeds = filesText(join(spool, 'jobs', dir));
        expect(seeds).toContain(`export VTORQUE_VM_LAYOUT=${HOST}:1,n2:1`);
        expect(seeds).toContain('export VTORQUE_NUM_HOSTS=2');
        expect(seeds).toContain('export VTORQUE_NUM_VMS=2');
      }
      const epi = await callHook(s, 'epilogue', epilogueArgv(job, { resources: RESOURCES }), job.nodefile);
      expect(epi.rc, epi.stdout + epi.stderr).toBe(0);
      expect(stateDirs()).toEqual([]);
      expect(entries(join(n2.SPOOL_DIR, 'jobs'))).toEqual([]);
      expect(entries(join(s.spool, 'records'))).toEqual([]);
    } finally {
      unstageJob(s, job);
    }
  }, 60_000);

  it("epilogue.parallel on a sister: no record here, only the state the head's agent prepared; this node's part goes, from its own spool and libvirt", async () => {
    // The head is another host (its own spool); this site is its sister, reached through the agent.
    const head = { ...elsewhere(), NODE_AGENT_COMMAND: agentCommand(join(s.ctl, 'agents'), { [HOST]: s.config() }) };
    const jobId = `1202.${HOST}`;
    const share = { slots: 2, memory: { mib: 1024, basis: 'mem=2gb / 2 nodes' } };
    const out = await startJob(
      {
        jobId, owner: await resolveOwner(TEST_USER, TEST_USER), request: BASE_REQUEST, requestSource: 'test', script: '#!/bin/sh\n',
        allocation: [{ name: 'head01', ...share }, { name: HOST, ...share }], deadlineAt: Date.now() + 60_000,
        scheduler: { name: 'Torque', submit: 'vsub' }, guestEnv: () => ({}), isActive: () => true,
      },
      { config: head, layout: layoutAt(REPO), log: quiet, say: () => undefined },
    );
    expect(out).toMatchObject({ kind: 'running' });
    expect(stateDirs()).toEqual([jobDirName(jobId)]);
    expect(entries(join(s.spool, 'records'))).toEqual([]);
    const epi = await callHook(s, 'epilogue.parallel', epilogueArgv(onSister(jobId), { resources: RESOURCES }));
    expect(epi.rc, epi.stdout + epi.stderr).toBe(0);
    expect(stateDirs()).toEqual([]);
    expect(nodeLogs()).toContain('epilogue.parallel.log');
    // The head's own stop then finds nothing left there.
    expect(await stopJobHere(jobId, { config: head, layout: layoutAt(REPO), log: quiet })).toMatchObject({ kind: 'stopped', problems: [], error: null });
  }, 60_000);

  it("epilogue.parallel is bounded by pbs_mom's alarm: a libvirt that never answers leaves the rest for gc and keeps the site's exit code (a sister's failure would mark the node down)", async () => {
    const sock = join(s.root, 'silent-libvirt.sock');
    const sockets: import('node:net').Socket[] = [];
    const server = createServer((c) => void sockets.push(c)).listen(sock); // accepts, never answers
    const momConfig = join(s.momPriv, 'config');
    writeFileSync(momConfig, '$prologalarm 21\n'); // pbs_mom kills the hook after 11 s
    s.configure({ LIBVIRT_URI: `qemu:///system?socket=${sock}`, PROLOGUE_TIMEOUT: 10, TIMEOUT: 10 });
    const jobId = `1203.${HOST}`;
    mkdirSync(join(s.spool, 'jobs', jobDirName(jobId)), { recursive: true, mode: 0o711 });
    try {
      const t0 = Date.now();
      const epi = await callHook(s, 'epilogue.parallel', epilogueArgv(onSister(jobId)));
      const ms = Date.now() - t0;
      expect(epi.rc, epi.stdout + epi.stderr).toBe(0);
      expect(ms).toBeLessThan(11_000);
      // This node's own agent, stuck in libvirt, is given up on (and killed) before the deadline.
      expect(epi.stdout).toContain(`vTorque: teardown of job ${jobId} on this node failed: node ${HOST}: no answer to hello within`);
      expect(spawnSync('pgrep', ['-f', `node-agent --name ${HOST} --config ${s.configPath}`]).status).toBe(1);
      expect(stateDirs()).toEqual([jobDirName(jobId)]); // left for the next stop or gc
    } finally {
      for (const c of sockets) c.destroy();
      server.close();
      rmSync(momConfig, { force: true });
    }
  }, 30_000);

  it("a sister's failed teardown is said and keeps the site's exit code; the mother superior's epilogue reports it as before", async () => {
    s.configure({ LIBVIRT_URI: DEAD_URI });
    const jobId = `1204.${HOST}`;
    mkdirSync(join(s.spool, 'jobs', jobDirName(jobId)), { recursive: true, mode: 0o711 });
    const sister = await callHook(s, 'epilogue.parallel', epilogueArgv(onSister(jobId)));
    expect(sister.rc, sister.stdout + sister.stderr).toBe(0);
    // Through this node's own agent, which could not open libvirt.
    expect(sister.stdout).toMatch(new RegExp(`^vTorque: teardown of job ${jobId.replace(/\./g, '\\.')} on this node failed: node ${HOST}: its node agent ended \\(exit \\d+\\): .*libvirt open`));
    const mother = await callHook(s, 'epilogue', epilogueArgv(onSister(jobId)));
    expect(mother.rc).toBe(1);
    expect(mother.stdout).toMatch(/^vTorque: teardown of job \S+ failed: libvirt open/);
    expect(stateDirs()).toEqual([jobDirName(jobId)]);
  }, 30_000);

  it("a sister never reaches the job's other nodes, even from a record of its own that names them", async () => {
    // This node was the head of an earlier start of the job, whose teardown was left unfinished.
    const jobId = `1205.${HOST}`;
    const owner = await resolveOwner(TEST_USER, TEST_USER);
    writeJobRecord(s.config(), { version: 1, jobId, owner: { user: owner.user, uid: owner.uid }, node: HOST, sisters: ['n9'], keepLogs: false, componentStops: [], vms: ['x'], ramdisk: null, qemuUid: null, createdMs: Date.now() });
    s.configure({ NODE_AGENT_COMMAND: ['/bin/sh', '-c', `echo "$0" >> '${s.ctl}/agents-started'; exit 3`, '{node}'] });
    const epi = await callHook(s, 'epilogue.parallel', epilogueArgv(onSister(jobId)));
    expect(epi.rc, epi.stdout + epi.stderr).toBe(0);
    expect(s.ctlFile('agents-started')).toBe('');
    expect(entries(join(s.spool, 'records'))).toEqual([]); // this node's own part is done, its record with it
  }, 30_000);
});
