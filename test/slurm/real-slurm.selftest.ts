// Self-test of real-slurm.ts (no vitest tier picks it up):  sudo npx tsx test/slurm/real-slurm.selftest.ts
// A netns vtqslh of its own with a veth pair (10.213.51.1/24: Slurm needs a non-loopback address),
// the cluster up, one `sbatch --wrap 'echo hi; exit 3'` as user vtqslh through a Prolog/Epilog
// from the hooks include, its output and exit code checked, reconfigure, down. The netns, the
// state directory and the job's files are removed at the end, whatever happened.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realSlurm } from './real-slurm.js';

const NS = 'vtqslh';
const ADDR = '10.213.51.1';
const STATE = '/var/tmp/vtorque-slurm-h';
const USER = 'vtqslh';

const sh = (file: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const must = (file: string, args: readonly string[]): string => {
  const r = sh(file, args);
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
};
const log = (line: string): void => console.log(`[${new Date().toISOString().slice(11, 23)}] ${line}`);
const failures: string[] = [];
const check = (ok: boolean, what: string): void => {
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
const secs = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  // A run killed before its end: its netns goes (the daemons of it, if any, are stopped by up()).
  if (existsSync(`/run/netns/${NS}`) && !existsSync(STATE)) must('ip', ['netns', 'del', NS]);
  if (!existsSync(`/run/netns/${NS}`)) {
    must('ip', ['netns', 'add', NS]);
    must('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    must('ip', ['-n', NS, 'link', 'add', `${NS}-a`, 'type', 'veth', 'peer', 'name', `${NS}-b`]);
    must('ip', ['-n', NS, 'addr', 'add', `${ADDR}/24`, 'dev', `${NS}-a`]);
    must('ip', ['-n', NS, 'link', 'set', `${NS}-a`, 'up']);
    must('ip', ['-n', NS, 'link', 'set', `${NS}-b`, 'up']);
  }
  if (sh('id', ['-u', USER]).status !== 0) must('useradd', ['-m', '-s', '/bin/bash', USER]);
  const pw = must('getent', ['passwd', USER]).trim().split(':');
  const [uid, gid, home] = [Number(pw[2]), Number(pw[3]), pw[5] as string];
  const work = join(home, 'real-slurm-selftest');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { mode: 0o755 });
  chownSync(work, uid, gid);

  // The hooks include, as a caller writes it: a Prolog and an Epilog (root, no PATH) that log.
  mkdirSync(join(STATE, 'hooks'), { recursive: true, mode: 0o755 });
  const hookLog = join(STATE, 'hooks', 'ran.log');
  writeFileSync(hookLog, '');
  chmodSync(hookLog, 0o666);
  for (const h of ['prolog', 'epilog']) {
    writeFileSync(join(STATE, 'hooks', h), `#!/bin/sh\necho "${h} job=$SLURM_JOB_ID uid=$(/usr/bin/id -u) exit=$SLURM_JOB_EXIT_CODE2" >> ${hookLog}\nexit 0\n`, { mode: 0o755 });
  }
  const include = join(STATE, 'hooks.conf');
  writeFileSync(include, `Prolog=${join(STATE, 'hooks', 'prolog')}\nEpilog=${join(STATE, 'hooks', 'epilog')}\n`, { mode: 0o644 });

  const mungedBefore = readFileSync('/run/munge/munged.pid', 'utf8').trim();
  const slurm = realSlurm({
    ns: NS, addr: ADDR, stateDir: STATE, clusterName: 'vtqslh', nodeName: 'vtqslh1', ctldPort: 16917, slurmdPort: 16918,
    cpus: 1, realMemoryMiB: 1000, hooksInclude: include, prologEpilogTimeout: 30, log,
  });
  let up = false;
  try {
    let t = performance.now();
    up = true; // from here on a failure still takes down whatever started
    await slurm.up();
    log(`up() took ${secs(t)}`);
    check(slurm.node().state === 'idle', `node idle: ${JSON.stringify(slurm.node())}`);
    check(slurm.processes().length >= 3, `daemons in the netns: ${JSON.stringify(slurm.processes())}`);

    t = performance.now();
    const id = slurm.sbatch(USER, ['--wrap', 'echo hi; exit 3'], { cwd: work });
    const tSub = performance.now() - t;
    const done = await slurm.waitDone(id, 60_000);
    log(`sbatch took ${(tSub / 1000).toFixed(2)} s; sbatch → ${done.JobState} ${secs(t)}`);
    check(done.JobState === 'FAILED', `JobState FAILED: ${done.JobState}`);
    check(done.ExitCode === '3:0', `ExitCode 3:0: ${done.ExitCode}`);
    check(done.UserId?.startsWith(`${USER}(`) === true, `UserId: ${done.UserId}`);
    const outFile = join(work, `slurm-${id}.out`);
    const out = existsSync(outFile) ? readFileSync(outFile, 'utf8') : '(missing)';
    check(out === 'hi\n', `output file ${outFile}: ${JSON.stringify(out)}`);
    await slurm.waitIdle();
    const hooks = readFileSync(hookLog, 'utf8');
    check(hooks.includes(`prolog job=${id} uid=0`) && hooks.includes(`epilog job=${id} uid=0 exit=3:0`), `Prolog and Epilog ran: ${JSON.stringify(hooks)}`);
    t = performance.now();
    let sacct: string | null = null;
    while (sacct === null && performance.now() - t < 10_000) {
      sacct = slurm.sacctExit(id);
      if (sacct === null) await new Promise((r) => setTimeout(r, 200));
    }
    check(sacct === '3:0', `sacct -c ExitCode 3:0: ${sacct} (after ${secs(t)})`);
    check(slurm.sacctExit('999999') === null, 'sacctExit of an unknown job is null');
    check(slurm.job('999999') === null, 'job() of an unknown job is null');

    t = performance.now();
    slurm.reconfigure();
    log(`reconfigure took ${secs(t)}`);
    check(slurm.node().state === 'idle', `node idle after reconfigure: ${JSON.stringify(slurm.node())}`);
    check(readFileSync('/run/munge/munged.pid', 'utf8').trim() === mungedBefore, 'the running munged was used');

    t = performance.now();
    up = false;
    await slurm.down();
    log(`down() took ${secs(t)}`);
    check(slurm.processes().length === 0, 'no Slurm process left in the netns');
    check(readFileSync('/run/munge/munged.pid', 'utf8').trim() === mungedBefore && existsSync(`/proc/${mungedBefore}`), `munged ${mungedBefore} still runs`);
  } finally {
    if (up) await slurm.down().catch((e: unknown) => log(`down() after a failure: ${String(e)}`));
    const del = sh('ip', ['netns', 'del', NS]);
    if (del.status !== 0) log(`ip netns del ${NS}: ${del.stderr.trim()}`);
    rmSync(STATE, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
  check(!existsSync(`/run/netns/${NS}`) && !existsSync(STATE), 'netns and state directory removed');
  if (failures.length > 0) throw new Error(`${failures.length} check(s) failed:\n${failures.join('\n')}`);
  log('real-slurm selftest passed');
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
