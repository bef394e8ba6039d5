import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatRunLocal } from '../../src/torque/run-local/index.js';
import { makeFixture, TEST_USER, type Fixture } from './fixture.js';

// Real vsub bundle (dist/vsub.mjs, built by `npm run build`), real setpriv/sh/bash, stub hooks.
let fx: Fixture;
const host = hostname().split('.')[0] as string;

beforeAll(() => {
  fx = makeFixture();
});
afterAll(() => fx.cleanup());
beforeEach(() => fx.reset());

const plain = ['-l', 'nodes=1:ppn=2,walltime=00:10:00', '-A', 'proj7', '-F', 'one "two three"', 'job.sh'];

describe('a plain job, prologue 0', () => {
  it('gives the prologue 8 arguments and exactly the environment pbs_mom gives', async () => {
    const r = await fx.run(plain);
    expect(r.verdict).toBe('run');
    const [pro] = fx.calls('prologue');
    if (!pro) throw new Error('prologue did not run');
    const sc = join(fx.momPriv, 'jobs', `${r.jobId}.SC`);
    expect(r.jobId).toMatch(new RegExp(`^\\d+\\.${host}$`));
    expect(pro.argc).toBe(8);
    expect(pro.argv).toEqual([join(fx.momPriv, 'prologue'), r.jobId, TEST_USER, TEST_USER, 'fromdirective', 'nodes=1:ppn=2,neednodes=1:ppn=2,walltime=00:10:00', 'fast', 'proj7', sc]);
    expect(pro.env).toEqual({
      LANG: 'C.UTF-8',
      PATH: '/bin:/usr/bin',
      PBS_MSHOST: host,
      PBS_NODEFILE: `${fx.torqueHome}/aux//${r.jobId}`,
      PBS_NODENUM: '0',
      PBS_NP: '2',
      PBS_NUM_NODES: '1',
      PBS_NUM_PPN: '2',
      PBS_O_WORKDIR: fx.work,
      PBS_RESOURCE_NODES: '1:ppn=2',
      PWD: fx.momPriv,
      SHLVL: '1',
    });
    expect(pro.uid).toBe(0);
    expect(pro.groups).toContain(0);
    expect(pro.groups).toContain(fx.uid); // root + the owner's groups (G8); the test user's gid = uid
    expect(pro.umask).toBe('0077');
    expect(pro.cwd).toBe(fx.momPriv);
    expect(pro.stdin).toBe('/dev/null');
    expect(pro.stdout).toBe(join(fx.torqueHome, 'spool', `${r.jobId}.OU`));
    expect(pro.sid).toBe(pro.pid);
    expect(r.hooks[0]).toMatchObject({ hook: 'prologue', rc: 0, argv: pro.argv });
  });

  it('runs the job as the owner through its login shell, $0 = the .SC and the -F words, then the epilogue with 11 args', async () => {
    fx.control('job', { rc: 3 });
    const r = await fx.run(plain);
    const [job] = fx.calls('job');
    const [epi] = fx.calls('epilogue');
    if (!job || !epi) throw new Error('job or epilogue did not run');
    const sc = join(fx.momPriv, 'jobs', `${r.jobId}.SC`);
    expect(job.uid).toBe(fx.uid);
    expect(job.scstat).toBe(`${fx.uid} 700`);
    // pbs_mom chowns the .SC right after forking the starter, so the prologue already sees it as the owner's.
    expect(fx.calls('prologue')[0]?.scstat).toBe(`${fx.uid} 700`);
    expect(job.argv).toEqual([sc, 'one', 'two three']); // the login shell splits -F, as under Torque
    expect(job.cwd).toBe(fx.home);
    expect(job.env).toMatchObject({
      HOME: fx.home, USER: TEST_USER, LOGNAME: TEST_USER, PBS_JOBID: r.jobId, PBS_JOBNAME: 'fromdirective', PBS_QUEUE: 'fast',
      PBS_NODEFILE: join(fx.torqueHome, 'aux', r.jobId), PBS_NODENUM: '0', PBS_ENVIRONMENT: 'PBS_BATCH', PBS_NP: '2', PBS_NUM_PPN: '2',
      PBS_NUM_NODES: '1', PBS_TASKNUM: '1', PBS_VNODENUM: '0', PBS_O_WORKDIR: fx.work, PBS_O_QUEUE: 'fast', PBS_O_LOGNAME: TEST_USER,
    });
    expect(job.env.VTORQUE_CONFIG).toBeUndefined();
    expect(epi.argc).toBe(11);
    expect(epi.argv.slice(1)).toEqual([
      r.jobId, TEST_USER, TEST_USER, 'fromdirective', String(job.sid), 'nodes=1:ppn=2,neednodes=1:ppn=2,walltime=00:10:00',
      expect.stringMatching(/^cput=00:00:00,vmem=0kb,walltime=00:00:0\d,mem=0kb,energy_used=0$/), 'fast', 'proj7', '3', sc,
    ]);
    expect(epi.umask).toBe('0022');
    expect(epi.uid).toBe(0);
    expect(epi.env.PWD).toBe(fx.momPriv);
    expect(epi.sid).toBe(epi.pid);
    expect(epi.stdin).toBe('/dev/null');
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 3, canceled: false, attempts: [{ prologueRc: 0, epilogueRc: 0, exitStatus: 3 }] });
    expect(r.stdout).toBe('prologue says hello on stdout\njob says hello, args: one two three\nepilogue says hello on stdout\n');
    expect(r.stderr).toBe('prologue says hello on stderr\njob error line\nepilogue says hello on stderr\n');
    expect(formatRunLocal(r)).toMatch(new RegExp(`run-local: job ${r.jobId.replace('.', '\\.')}: run, exit status 3\\n$`));
    // Nothing left behind unless asked.
    expect(existsSync(sc)).toBe(false);
    expect(readdirSync(join(fx.torqueHome, 'spool'))).toEqual([]);
    expect(readdirSync(join(fx.torqueHome, 'aux'))).toEqual([]);
  });

  it('stages like pbs_mom: .SC root 0700 during the prologue, the node file, spool files of the owner; keep leaves them', async () => {
    const r = await fx.run(['-l', 'nodes=1:ppn=3', 'job.sh'], { keep: true });
    const sc = join(fx.momPriv, 'jobs', `${r.jobId}.SC`);
    expect(readFileSync(sc, 'utf8')).toBe(readFileSync(join(fx.work, 'job.sh'), 'utf8'));
    expect(readFileSync(join(fx.torqueHome, 'aux', r.jobId), 'utf8')).toBe(`${host}\n${host}\n${host}\n`);
    const modes = (p: string): string => (statMode(p) & 0o7777).toString(8);
    expect(modes(join(fx.momPriv, 'jobs'))).toBe('751');
    expect(modes(join(fx.torqueHome, 'spool'))).toBe('1777');
    expect(modes(join(fx.torqueHome, 'spool', `${r.jobId}.OU`))).toBe('600');
    expect(r.hooks[0]?.argv[5]).toBe('nodes=1:ppn=3,neednodes=1:ppn=3');
  });

  it('takes the script from stdin (job name STDIN) and passes it through vsub unchanged', async () => {
    const r = await fx.run(['-N', 'piped'], { stdin: '#!/bin/sh\necho from stdin\n' });
    expect(r.verdict).toBe('run');
    expect(r.hooks[0]?.argv[4]).toBe('piped');
    expect(r.stdout).toContain('from stdin\n');
    const r2 = await fx.run([], { stdin: 'echo anonymous\n' });
    expect(r2.hooks[0]?.argv[4]).toBe('STDIN');
    expect(r2.stdout).toContain('anonymous\n');
  });
});

describe('prologue results', () => {
  it('exit 1 aborts: no job, the epilogue still runs with session 0 and exit status -2', async () => {
    fx.control('prologue', { rc: 1 });
    const r = await fx.run(plain);
    expect(fx.calls('job')).toEqual([]);
    const [epi] = fx.calls('epilogue');
    expect(epi?.argv[5]).toBe('0');
    expect(epi?.argv[10]).toBe('-2');
    expect(r).toMatchObject({ verdict: 'aborted', exitStatus: -2, attempts: [{ prologueRc: 1, exitStatus: -2 }] });
  });

  it('exit 2 requeues: epilogue with -14 after every start, bounded by max-starts', async () => {
    fx.control('prologue', { rc: 2 });
    const r = await fx.run(plain, { maxStarts: 3 });
    expect(fx.calls('prologue')).toHaveLength(3);
    expect(fx.calls('epilogue').map((e) => [e.argv[5], e.argv[10]])).toEqual([['0', '-14'], ['0', '-14'], ['0', '-14']]);
    expect(fx.calls('job')).toEqual([]);
    expect(r.verdict).toBe('requeued-limit');
    expect(r.exitStatus).toBe(-14);
    expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 2, 2]);
    expect(formatRunLocal(r)).toContain('run-local: 3 starts, prologue exit codes 2, 2, 2\n');
  });

  it('a group-writable prologue is refused without running (rc -1) and requeues', async () => {
    chmodSync(join(fx.hookDir, 'prologue'), 0o570);
    const r = await fx.run(plain, { maxStarts: 2 });
    expect(fx.calls('prologue')).toEqual([]);
    expect(r.hooks.filter((h) => h.hook === 'prologue').map((h) => h.rc)).toEqual([-1, -1]);
    expect(fx.calls('epilogue').map((e) => e.argv[10])).toEqual(['-14', '-14']);
    expect(r.verdict).toBe('requeued-limit');
  });

  it('$prologalarm from mom_priv/config: 12 kills a 30 s prologue session at ~2 s (rc -4), the epilogue still runs', async () => {
    writeFileSync(join(fx.momPriv, 'config'), '$pbsserver localhost\n$prologalarm 12\n', { mode: 0o600 });
    try {
      fx.control('prologue', { sleep: 30 });
      const t0 = Date.now();
      const r = await fx.run(plain, { maxStarts: 1 });
      const took = Date.now() - t0;
      const pro = r.hooks.find((h) => h.hook === 'prologue');
      expect(pro?.rc).toBe(-4);
      expect(pro?.ms).toBeGreaterThanOrEqual(1900);
      expect(pro?.ms).toBeLessThan(4000);
      expect(took).toBeLessThan(8000);
      const child = Number(readFileSync(join(fx.rec, `prologue.${fx.calls('prologue')[0]?.pid}`, 'child'), 'utf8'));
      expect(alive(child)).toBe(false); // the sleep in the session died too
      expect(fx.calls('epilogue').map((e) => e.argv[10])).toEqual(['-14']);
      expect(r.verdict).toBe('requeued-limit');
    } finally {
      writeFileSync(join(fx.momPriv, 'config'), '', { mode: 0o600 });
    }
  });
});

describe('qdel (--cancel-after) and walltime', () => {
  it('precancel 0555 runs as the owner in its home with argv[10] 0, then SIGTERM: exit status 271', async () => {
    fx.control('job', { sleep: 30 });
    const r = await fx.run(plain, { cancelAfter: 1 });
    const [pc] = fx.calls('epilogue.precancel');
    const [job] = fx.calls('job');
    if (!pc || !job) throw new Error('precancel or job did not run');
    expect(pc.uid).toBe(fx.uid);
    expect(pc.groups).not.toContain(0);
    expect(pc.cwd).toBe(fx.home);
    expect(pc.env.PWD).toBe(fx.home);
    expect(pc.umask).toBe('0022');
    expect(pc.stdout).toBe('/dev/null');
    expect(pc.argc).toBe(11);
    expect([pc.argv[5], pc.argv[7], pc.argv[10]]).toEqual([String(job.sid), '', '0']);
    expect(fx.calls('epilogue')[0]?.argv[10]).toBe('271');
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 271, canceled: true });
  });

  it('precancel 0500 is refused (rc -1, not run) and the job is still killed', async () => {
    chmodSync(join(fx.hookDir, 'epilogue.precancel'), 0o500);
    fx.control('job', { sleep: 30 });
    const r = await fx.run(plain, { cancelAfter: 1 });
    expect(fx.calls('epilogue.precancel')).toEqual([]);
    expect(r.hooks.find((h) => h.hook === 'epilogue.precancel')?.rc).toBe(-1);
    expect(r.exitStatus).toBe(271);
  });

  it('qdel during the prologue (G10): the prologue runs to completion, the body never starts, epilogue 271', async () => {
    fx.control('prologue', { sleep: 2 });
    const r = await fx.run(plain, { cancelAfter: 0.5 });
    // precancel starts at 0.5 s and ends first; the prologue is not killed and ends at ~2 s.
    expect(r.hooks.map((h) => [h.hook, h.rc])).toEqual([['epilogue.precancel', 0], ['prologue', 0], ['epilogue', 0]]);
    expect(fx.calls('job')).toEqual([]);
    expect(fx.calls('epilogue')[0]?.argv[10]).toBe('271');
    expect(r).toMatchObject({ verdict: 'aborted', exitStatus: 271, canceled: true });
  });

  it('--walltime: precancel with -11, SIGTERM, and the epilogue gets -11', async () => {
    fx.control('job', { sleep: 30 });
    const r = await fx.run(plain, { walltime: 1 });
    expect(fx.calls('epilogue.precancel')[0]?.argv[10]).toBe('-11');
    expect(fx.calls('epilogue')[0]?.argv[10]).toBe('-11');
    expect(r.hooks[0]?.argv[5]).toBe('nodes=1:ppn=2,neednodes=1:ppn=2,walltime=00:00:01');
    expect(r).toMatchObject({ verdict: 'run', exitStatus: -11 });
  });
});

describe('--netns', () => {
  const ns = `vtq-rl-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', ns]).status === 0;
  afterAll(() => void (made && spawnSync('ip', ['netns', 'del', ns])));

  it.skipIf(!made)('runs every hook and the job inside the namespace, with the same argv, env and session', async () => {
    fx.control('job', { sleep: 30 });
    const r = await fx.run(plain, { netns: ns, cancelAfter: 1 });
    const inside = spawnSync('ip', ['netns', 'exec', ns, 'readlink', '/proc/self/ns/net'], { encoding: 'utf8' }).stdout.trim();
    const host = readlinkSync('/proc/self/ns/net');
    expect(inside).not.toBe(host);
    const all = [...fx.calls('prologue'), ...fx.calls('job'), ...fx.calls('epilogue.precancel'), ...fx.calls('epilogue')];
    expect(all.map((c) => c.name)).toEqual(['prologue', 'job', 'epilogue.precancel', 'epilogue']);
    for (const c of all) expect(c.netns).toBe(inside);
    const [pro] = fx.calls('prologue');
    expect(pro?.argc).toBe(8);
    expect(Object.keys(pro?.env ?? {}).sort()).toEqual(['LANG', 'PATH', 'PBS_MSHOST', 'PBS_NODEFILE', 'PBS_NODENUM', 'PBS_NP', 'PBS_NUM_NODES', 'PBS_NUM_PPN', 'PBS_O_WORKDIR', 'PBS_RESOURCE_NODES', 'PWD', 'SHLVL']);
    expect(pro?.sid).toBe(pro?.pid);
    expect(fx.calls('epilogue.precancel')[0]?.uid).toBe(fx.uid);
    expect(r).toMatchObject({ verdict: 'run', exitStatus: 271 });
  });
});

describe('submission', () => {
  it('a VM job goes through vsub: the .SC is its wrapper, with the request on line 2', async () => {
    fx.control('prologue', { rc: 1 }); // the stub hooks boot no VMs; stop before the body
    const r = await fx.run(['-vm', 'vcpus=1', 'job.sh'], { keep: true });
    const sc = readFileSync(join(fx.momPriv, 'jobs', `${r.jobId}.SC`), 'utf8');
    expect(sc.split('\n')[1]).toMatch(/^#VTORQUE-REQUEST v1 /);
    expect(r.submit.qsubArgv).toContain('-n');
    expect(r.hooks[0]?.argv.slice(4, 7)).toEqual(['fromdirective', 'nodes=1:ppn=2,neednodes=1:ppn=2,mem=2560mb', 'fast']);
    expect(r.verdict).toBe('aborted');
  });

  it('vsub failing is "not submitted", with its output and exit code', async () => {
    const r = await fx.run(['missing.sh']);
    expect(r.verdict).toBe('not-submitted');
    expect(r.exitStatus).not.toBe(0);
    expect(r.submit.stderr).toContain('missing.sh');
    expect(fx.calls('prologue')).toEqual([]);
    expect(formatRunLocal(r)).toMatch(/: not submitted, exit status \d+\n$/);
  });

  it('refuses multi-node jobs and jobs without an owner', async () => {
    const before = readdirSync(join(fx.momPriv, 'jobs'));
    await expect(fx.run(['-l', 'nodes=2', 'job.sh'])).rejects.toThrow(/single-node/);
    expect(readdirSync(join(fx.momPriv, 'jobs'))).toEqual(before);
    const { runLocal } = await import('../../src/torque/run-local/index.js');
    await expect(runLocal({ config: fx.config, vsubCommand: ['x'], vsubArgs: [], env: {}, out: null })).rejects.toThrow(/--user/);
    await expect(runLocal({ config: fx.config, vsubCommand: ['x'], vsubArgs: [], user: 'root', out: null })).rejects.toThrow(/never runs a job as root/);
  });
});

/** Running or sleeping; a zombie (killed, waiting for its reaper) or a missing pid is not alive. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function statMode(path: string): number {
  return statSync(path).mode;
}
