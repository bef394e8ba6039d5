// Real Slurm 22.05 (Debian slurm-wlm: slurmctld, slurmd, the clients, munge) for the tests: one
// controller and one node, both inside a network namespace the caller names (the VM site's, so
// the hooks slurmd runs reach the guests), every client run there too, all of the cluster's
// files under one state directory, and the daemons stopped by their PIDs at the end.
// The contract measured on this machine: /work/shared/reference/slurm-hook-contract.md.
//
// Things that matter (found on this machine):
// - Slurm cannot use a loopback-only netns: getaddrinfo (AI_ADDRCONFIG) fails for 127.0.0.1
//   ("Unable to resolve"), so controller and node use `addr`, a non-loopback address configured
//   in that netns (the VM site's bridge address; a veth pair in a netns of one's own).
// - The daemons are started with `nsenter --net=` and not `ip netns exec`, whose private /sys has
//   no /sys/fs/cgroup, which slurmd 22.05 insists on even with proctrack/linuxproc (gotcha G3).
// - munged is shared by every cluster on the machine (its socket is a file): one is started only
//   when none runs, and only that one is stopped again.
// - slurmctld runs only where its hostname is the SlurmctldHost name, so that is the real
//   hostname (at `addr`), not nodeName.
// - Exit codes without slurmdbd: jobcomp/filetxt writes one line per finished job (ExitCode=3:0,
//   DerivedExitCode) to JobCompLoc, and `sacct -c` reads it. As root only: sacct opens the file
//   for appending, so a user gets `fatal: open …/jobcomp.txt: Permission denied`.
// - An empty hooks include makes every daemon and client print `s_p_parse_file: file "…" is empty`
//   on stderr (harmless).
// - CR_Core_Memory without DefMemPerCPU: a job that asks for no memory gets all of RealMemory, so
//   such jobs run one at a time whatever `cpus` is.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { JobInfo, Run } from '../torque/real-torque.js';
import { slurmLocalSettings } from '../../src/testbed/slurm.js';

export interface RealSlurmOptions {
  /** Network namespace (/run/netns/<ns>) the daemons and clients run in. */
  readonly ns: string;
  /** A non-loopback address configured in `ns`: SlurmctldHost and NodeAddr. */
  readonly addr: string;
  /** Everything of the cluster: slurm.conf, controller state, slurmd spool, logs, pidfiles. Kept between runs. */
  readonly stateDir: string;
  /** ClusterName (slurmctld refuses a StateSaveLocation written under another name). */
  readonly clusterName: string;
  /** NodeName of the one node (slurmd -N). */
  readonly nodeName: string;
  readonly ctldPort: number;
  readonly slurmdPort: number;
  /** Must not exceed the real CPU count (`slurmd -C`). */
  readonly cpus: number;
  /** Must not exceed the real memory. */
  readonly realMemoryMiB: number;
  /** A slurm.conf include with the Prolog=/Epilog= lines, written by someone else (may be empty); '' for none. */
  readonly hooksInclude: string;
  /** PrologEpilogTimeout in seconds (Slurm's default, 65534, waits forever). */
  readonly prologEpilogTimeout?: number;
  /** AuthInfo=cred_expire (Slurm's default 120 s): a requeued job's hold-back time. */
  readonly credExpireSeconds?: number;
  readonly log: (line: string) => void;
}

export type { JobInfo, Run };

export interface RunOptions {
  readonly cwd?: string;
  readonly stdin?: string;
  readonly env?: Record<string, string>;
  /** Default 120 s. */
  readonly timeoutMs?: number;
}

/** States a job does not leave (COMPLETING is not one: the Epilog still runs). */
export const FINAL_JOB_STATES: readonly string[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED'];

export interface RealSlurm {
  readonly opts: RealSlurmOptions;
  readonly confPath: string;
  readonly paths: {
    readonly stateSave: string;
    readonly spool: string;
    readonly ctldLog: string;
    readonly slurmdLog: string;
    readonly ctldPid: string;
    readonly slurmdPid: string;
    readonly jobcomp: string;
  };
  /** slurm.conf written, munged (when none runs), slurmctld and slurmd started in the netns; the node idle. */
  up(): Promise<void>;
  /** `scontrol reconfigure`: slurm.conf and the hooks include read again, without a restart. */
  reconfigure(): void;
  /** Jobs cancelled, `scontrol shutdown`, the PIDs waited for (SIGTERM/SIGKILL by PID as a fallback), munged stopped if up() started it. Throws if anything is left. */
  down(): Promise<void>;
  /** A client or any command as `user` inside the netns, with SLURM_CONF and a login-like environment. */
  asUser(user: string, argv: readonly string[], o?: RunOptions): Run;
  /** A client as root inside the netns (SLURM_CONF set). */
  asRoot(argv: readonly string[], o?: RunOptions): Run;
  /** `sbatch ARGS` as `user`; the job id. Throws when sbatch fails. */
  sbatch(user: string, args: readonly string[], o?: RunOptions): string;
  /** `scontrol show job -o ID` as key → value; null once Slurm has forgotten the job (MinJobAge, 300 s). */
  job(id: string): JobInfo | null;
  /** Polls until `pred` holds for the job, or throws after `timeoutMs`. */
  waitFor(id: string, pred: (j: JobInfo) => boolean, timeoutMs: number): Promise<JobInfo>;
  /** Polls until the job is in one of FINAL_JOB_STATES (not COMPLETING); the last map. */
  waitDone(id: string, timeoutMs?: number): Promise<JobInfo>;
  /** Job ids slurmctld still holds, any state. */
  jobs(): string[];
  /** The node's state (sinfo %T: idle, allocated, completing, drained, down*, …) and reason (%E, "none"). */
  node(): { state: string; reason: string };
  /** `scontrol update nodename=… state=resume` (a node drained by a failed Prolog/Epilog); it shows `idle*` for ~0.1 s before `idle`. */
  resume(): void;
  /** Polls until the node is `idle` (after a job: its Epilog has run, gotcha G8); throws after `timeoutMs`. */
  waitIdle(timeoutMs?: number): Promise<void>;
  /** Lines of the slurmd log (hook failures: `prolog failed: rc:1 output:…`). */
  slurmdLog(): string[];
  /** Lines of the slurmctld log. */
  slurmctldLog(): string[];
  /** The job's ExitCode ("N:M", exit status:signal) from `sacct -c` (jobcomp/filetxt: no slurmdbd); null when it has no record. */
  sacctExit(id: string): string | null;
  /** slurmctld/slurmd/slurmstepd/slurmscriptd processes in the netns (not zombies). */
  processes(): { pid: number; comm: string }[];
}

const SBIN = '/usr/sbin';
const BIN = '/usr/bin';
const SLURM_COMMS = new Set(['slurmctld', 'slurmd', 'slurmstepd', 'slurmscriptd']);

const sh = (file: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {}): Run => {
  const r: SpawnSyncReturns<string> = spawnSync(file, args, { encoding: 'utf8', timeout: o.timeoutMs ?? 120_000, env: o.env ?? process.env, input: o.input ?? '', ...(o.cwd ? { cwd: o.cwd } : {}) });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secs = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

/** `scontrol show … -o` text (one line) as key → value; a value may hold spaces (a word without `key=` continues it). */
export function parseScontrolLine(line: string): JobInfo {
  const info: Record<string, string> = {};
  let key = '';
  for (const word of line.trim().split(' ')) {
    const m = /^([A-Za-z][A-Za-z0-9_:/]*)=(.*)$/.exec(word);
    if (m) {
      key = m[1] as string;
      info[key] = m[2] as string;
    } else if (key) info[key] += ` ${word}`;
  }
  return info;
}

/** comm, state and argv of a process; null when gone. */
function proc(pid: number): { comm: string; state: string; argv: string[] } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(open + 1, close);
    const state = stat.slice(close + 2, close + 3);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    return { comm, state, argv };
  } catch {
    return null;
  }
}

/** Alive means present and not a zombie (PID 1 here reaps exited daemons lazily, gotcha G1). */
const alive = (pid: number): boolean => {
  const p = proc(pid);
  return p !== null && p.state !== 'Z' && p.state !== 'X';
};

const readPid = (file: string): number | null => {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
};

async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const until = performance.now() + ms;
  let left = pids.filter(alive);
  while (left.length > 0 && performance.now() < until) {
    await sleep(50);
    left = left.filter(alive);
  }
  return left;
}

const MUNGE_PIDFILE = '/run/munge/munged.pid';
/** The running munged (its pidfile names a live munged), or null. */
function mungedPid(): number | null {
  const pid = readPid(MUNGE_PIDFILE);
  return pid !== null && alive(pid) && proc(pid)?.comm === 'munged' ? pid : null;
}

export function realSlurm(opts: RealSlurmOptions): RealSlurm {
  const { ns, addr, stateDir, nodeName, log } = opts;
  const confPath = join(stateDir, 'slurm.conf');
  const paths = {
    stateSave: join(stateDir, 'ctld'),
    spool: join(stateDir, 'spool'),
    ctldLog: join(stateDir, 'log', 'slurmctld.log'),
    slurmdLog: join(stateDir, 'log', 'slurmd.log'),
    ctldPid: join(stateDir, 'run', 'slurmctld.pid'),
    slurmdPid: join(stateDir, 'run', 'slurmd.pid'),
    jobcomp: join(stateDir, 'jobcomp.txt'),
  };
  const netnsPath = `/run/netns/${ns}`;
  const inNs = (argv: readonly string[]): string[] => ['nsenter', `--net=${netnsPath}`, '--', ...argv];
  let startedMunged: number | null = null;

  /** Our daemon from its pidfile: alive, the right program, and started with our slurm.conf. */
  const daemonPid = (file: string, comm: 'slurmctld' | 'slurmd'): number | null => {
    const pid = readPid(file);
    if (pid === null) return null;
    const p = proc(pid);
    return p !== null && p.state !== 'Z' && p.comm === comm && p.argv.includes(confPath) ? pid : null;
  };
  const daemonPids = (): number[] => [daemonPid(paths.ctldPid, 'slurmctld'), daemonPid(paths.slurmdPid, 'slurmd')].filter((p): p is number => p !== null);

  const conf = (): string => {
    const lines = [
      '# Written by test/slurm/real-slurm.ts; rewritten by every up().',
      `ClusterName=${opts.clusterName}`,
      // slurmctld only runs where its hostname is the SlurmctldHost name ("This host (vm/vm) not a
      // valid controller"; there is no option against it): the real hostname, at `addr`.
      `SlurmctldHost=${hostname()}(${addr})`,
      `SlurmctldPort=${opts.ctldPort}`,
      `SlurmdPort=${opts.slurmdPort}`,
      'SlurmUser=slurm',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      // cred_expire is also how long Slurm holds a requeued job back (and how long slurmd skips
      // the Prolog for a job id it ran one for): short in tests that requeue.
      ...(opts.credExpireSeconds === undefined ? [] : [`AuthInfo=cred_expire=${opts.credExpireSeconds}`]),
      'CredType=cred/munge',
      `StateSaveLocation=${paths.stateSave}`,
      `SlurmdSpoolDir=${paths.spool}`,
      `SlurmctldPidFile=${paths.ctldPid}`,
      `SlurmdPidFile=${paths.slurmdPid}`,
      `SlurmctldLogFile=${paths.ctldLog}`,
      `SlurmdLogFile=${paths.slurmdLog}`,
      'SlurmctldDebug=info',
      'SlurmdDebug=info',
      // Completion records without slurmdbd: `sacct -c` reads paths.jobcomp (sacctExit).
      ...slurmLocalSettings(paths.jobcomp),
      // The hooks include (vtorque setup --slurm's) sets PrologFlags itself: twice is an error in the logs.
      ...(opts.hooksInclude === '' ? ['PrologFlags=Alloc'] : []),
      ...(opts.prologEpilogTimeout === undefined ? [] : [`PrologEpilogTimeout=${opts.prologEpilogTimeout}`]),
      `NodeName=${nodeName} NodeHostname=${hostname()} NodeAddr=${addr} CPUs=${opts.cpus} RealMemory=${opts.realMemoryMiB} State=UNKNOWN`,
      `PartitionName=batch Nodes=${nodeName} Default=YES MaxTime=INFINITE State=UP`,
      ...(opts.hooksInclude === '' ? [] : [`Include ${opts.hooksInclude}`]),
    ];
    return `${lines.join('\n')}\n`;
  };

  const rootEnv = (): NodeJS.ProcessEnv => ({ ...process.env, SLURM_CONF: confPath });

  /** A daemon started in the netns; it daemonises, so its stdio goes to a file (a pipe would be held open). */
  const startDaemon = (argv: readonly string[], what: string): void => {
    const out = join(stateDir, 'log', `${what}.start.out`);
    const fd = openSync(out, 'w', 0o644);
    try {
      const full = inNs(argv);
      const r = spawnSync(full[0] as string, full.slice(1), { stdio: ['ignore', fd, fd], env: rootEnv(), timeout: 60_000 });
      const text = readFileSync(out, 'utf8').trim();
      if (r.status !== 0) throw new Error(`${what} did not start (${r.status ?? r.signal}): ${text}\n${tail(what === 'slurmd' ? paths.slurmdLog : paths.ctldLog)}`);
      // pmix (gotcha G10) and an empty hooks include (`s_p_parse_file: file "…" is empty`, which every client prints too) are noise.
      for (const line of text.split('\n').filter((l) => l !== '' && !/pmix|s_p_parse_file: file .* is empty/i.test(l))) log(`${what}: ${line}`);
    } finally {
      closeSync(fd);
    }
  };
  const tail = (file: string, n = 15): string => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n') : `(no ${file})`);

  const startMunged = async (): Promise<void> => {
    const running = mungedPid();
    if (running !== null) {
      log(`munged ${running} already runs: using it`);
      return;
    }
    if (!existsSync('/etc/munge/munge.key')) {
      const k = sh('runuser', ['-u', 'munge', '--', `${SBIN}/mungekey`, '--create']);
      if (k.status !== 0) throw new Error(`mungekey --create failed: ${k.stderr}`);
    }
    mkdirSync('/run/munge', { recursive: true, mode: 0o755 });
    const munge = sh('id', ['-u', 'munge']).stdout.trim();
    const mungeGid = sh('id', ['-g', 'munge']).stdout.trim();
    chownSync('/run/munge', Number(munge), Number(mungeGid));
    const r = spawnSync('runuser', ['-u', 'munge', '--', `${SBIN}/munged`], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`munged did not start (${r.status}): ${r.stderr}`);
    for (let i = 0; i < 100 && mungedPid() === null; i++) await sleep(50);
    startedMunged = mungedPid();
    if (startedMunged === null) throw new Error('munged started but its pidfile names no live munged');
    log(`started munged ${startedMunged}`);
  };

  const stopMunged = async (): Promise<void> => {
    if (startedMunged === null) return;
    const pid = startedMunged;
    startedMunged = null;
    if (!alive(pid) || proc(pid)?.comm !== 'munged') return;
    process.kill(pid, 'SIGTERM');
    if ((await waitGone([pid], 10_000)).length > 0) {
      process.kill(pid, 'SIGKILL');
      if ((await waitGone([pid], 5_000)).length > 0) throw new Error(`munged ${pid} did not stop`);
    }
    log(`stopped munged ${pid}`);
  };

  /** SIGTERM, then SIGKILL, to each PID (processes of ours, checked by the caller); what is still alive. */
  const killPids = async (pids: readonly number[], why: string): Promise<number[]> => {
    const live = pids.filter(alive);
    if (live.length === 0) return [];
    log(`${why}: SIGTERM ${live.map((p) => `${p} (${proc(p)?.comm})`).join(', ')}`);
    for (const p of live) process.kill(p, 'SIGTERM');
    let left = await waitGone(live, 10_000);
    if (left.length > 0) {
      log(`${why}: SIGKILL ${left.join(', ')}`);
      for (const p of left) process.kill(p, 'SIGKILL');
      left = await waitGone(left, 5_000);
    }
    return left;
  };

  const ctldResponds = (): boolean => /is UP/.test(s.asRoot([`${BIN}/scontrol`, 'ping'], { timeoutMs: 15_000 }).stdout);

  /** Job ids squeue lists with `states` (none: its default, pending, running, suspended or completing). */
  const ids = (states: readonly string[]): string[] =>
    s.asRoot([`${BIN}/squeue`, '-h', '-a', ...states, '-o', '%i']).stdout.split('\n').map((l) => l.trim()).filter((l) => /^\d+$/.test(l));
  const activeJobs = (): string[] => ids([]);

  const cancelAll = async (why: string): Promise<void> => {
    const active = activeJobs();
    if (active.length === 0) return;
    log(`${why}: scancel ${active.join(' ')}`);
    s.asRoot([`${BIN}/scancel`, ...active]);
    // KillWait (30 s) between SIGTERM and SIGKILL, then the Epilog.
    const until = performance.now() + 60_000;
    while (performance.now() < until && active.some((id) => !FINAL_JOB_STATES.includes(s.job(id)?.JobState ?? 'COMPLETED'))) await sleep(200);
  };

  const s: RealSlurm = {
    opts,
    confPath,
    paths,

    async up() {
      const t0 = performance.now();
      if (process.getuid?.() !== 0) throw new Error('the Slurm harness needs root');
      if (!existsSync(netnsPath)) throw new Error(`no network namespace ${ns} (${netnsPath})`);
      const addrs = sh('ip', ['-n', ns, '-o', 'addr', 'show']).stdout;
      if (!addrs.split('\n').some((l) => l.includes(` ${addr}/`))) throw new Error(`${addr} is not configured in netns ${ns} (Slurm needs a non-loopback address there):\n${addrs}`);
      if (opts.hooksInclude !== '' && !existsSync(opts.hooksInclude)) throw new Error(`hooks include ${opts.hooksInclude} does not exist`);

      // Daemons of an earlier run that never got its down(): they would keep the old config.
      const stale = daemonPids();
      if (stale.length > 0) {
        const left = await killPids(stale, 'daemons left by an earlier run');
        if (left.length > 0) throw new Error(`could not stop the earlier run's daemons ${left.join(', ')}`);
      }

      const pw = sh('getent', ['passwd', 'slurm']).stdout.trim().split(':');
      if (pw.length < 7) throw new Error('no user slurm (the slurmctld package makes it)');
      const slurm = { uid: Number(pw[2]), gid: Number(pw[3]) };
      mkdirSync(stateDir, { recursive: true, mode: 0o755 });
      chmodSync(stateDir, 0o755);
      for (const [dir, owner] of [[paths.stateSave, slurm], [paths.spool, null], [join(stateDir, 'log'), slurm], [join(stateDir, 'run'), slurm]] as const) {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        if (owner) chownSync(dir, owner.uid, owner.gid);
      }
      for (const f of [paths.ctldLog, paths.jobcomp]) {
        if (!existsSync(f)) writeFileSync(f, '', { mode: 0o644 });
        chownSync(f, slurm.uid, slurm.gid);
      }
      writeFileSync(confPath, conf(), { mode: 0o644 });
      chmodSync(confPath, 0o644);

      await startMunged();

      startDaemon([`${SBIN}/slurmctld`, '-i', '-f', confPath], 'slurmctld');
      const tCtld = performance.now();
      while (!ctldResponds()) {
        if (daemonPid(paths.ctldPid, 'slurmctld') === null && performance.now() - tCtld > 1_000) throw new Error(`slurmctld exited:\n${tail(paths.ctldLog)}`);
        if (performance.now() - tCtld > 30_000) throw new Error(`slurmctld does not answer after 30 s:\n${tail(paths.ctldLog)}`);
        await sleep(100);
      }
      // Jobs an earlier run left in the state directory must not run in this one.
      const old = activeJobs();
      if (old.length > 0) {
        s.asRoot([`${BIN}/scancel`, ...old]);
        log(`cancelled jobs left by an earlier run: ${old.join(' ')}`);
      }

      startDaemon([`${SBIN}/slurmd`, '-N', nodeName, '-f', confPath], 'slurmd');
      const tNode = performance.now();
      let resumed = false;
      for (;;) {
        const n = s.node();
        if (n.state === 'idle') break;
        // A node drained or down when the state was saved (a failed hook of an earlier run).
        if (!resumed && /^(drain|drained|draining|down|fail)/.test(n.state) && !n.state.endsWith('*')) {
          log(`node ${nodeName} was ${n.state} (${n.reason}): resuming it`);
          s.resume();
          resumed = true;
        }
        if (performance.now() - tNode > 30_000) throw new Error(`node ${nodeName} not idle after 30 s (${n.state}: ${n.reason}):\n${tail(paths.slurmdLog)}`);
        await sleep(100);
      }
      log(`slurm up in ${secs(t0)} (slurmctld ${daemonPid(paths.ctldPid, 'slurmctld')}, slurmd ${daemonPid(paths.slurmdPid, 'slurmd')}, node ${nodeName} at ${addr} in ${ns})`);
    },

    reconfigure() {
      const r = s.asRoot([`${BIN}/scontrol`, 'reconfigure']);
      if (r.status !== 0) throw new Error(`scontrol reconfigure failed (${r.status}): ${r.stderr}${r.stdout}`);
    },

    async down() {
      const t0 = performance.now();
      const pids = daemonPids();
      if (daemonPid(paths.ctldPid, 'slurmctld') !== null && ctldResponds()) {
        await cancelAll('jobs still there at down()');
        const r = s.asRoot([`${BIN}/scontrol`, 'shutdown'], { timeoutMs: 30_000 });
        if (r.status !== 0) log(`scontrol shutdown failed (${r.status}): ${r.stderr.trim()}`);
      }
      let left = await waitGone(pids, 15_000);
      if (left.length > 0) left = await killPids(left, 'not gone 15 s after scontrol shutdown');
      // Job steps outlive `scontrol shutdown`; any still here are ours (they run in our netns).
      const steps = s.processes().map((p) => p.pid).filter((p) => !left.includes(p));
      if (steps.length > 0) left.push(...(await killPids(steps, 'slurm processes left in the netns')));
      await stopMunged();
      const still = [...new Set([...left.filter(alive), ...s.processes().map((p) => p.pid)])];
      if (still.length > 0) throw new Error(`Slurm processes still running: ${still.map((p) => `${p} ${proc(p)?.comm}`).join(', ')}`);
      log(`slurm down in ${secs(t0)}`);
    },

    asUser(user, argv, o = {}) {
      const pw = sh('getent', ['passwd', user]).stdout.trim().split(':');
      if (pw.length < 7) throw new Error(`no user ${user}`);
      const home = pw[5] ?? '/';
      const env = { HOME: home, USER: user, LOGNAME: user, SHELL: pw[6] || '/bin/sh', PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', SLURM_CONF: confPath, ...o.env };
      const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
      const full = inNs(['setpriv', `--reuid=${pw[2]}`, `--regid=${pw[3]}`, '--init-groups', '--', 'env', '-i', ...envArgs, ...argv]);
      return sh(full[0] as string, full.slice(1), { cwd: o.cwd ?? home, ...(o.stdin === undefined ? {} : { input: o.stdin }), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
    },

    asRoot(argv, o = {}) {
      const full = inNs(argv);
      return sh(full[0] as string, full.slice(1), { env: { ...rootEnv(), ...o.env }, ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.stdin === undefined ? {} : { input: o.stdin }), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
    },

    sbatch(user, args, o = {}) {
      const r = s.asUser(user, [`${BIN}/sbatch`, ...args], o);
      const m = /^Submitted batch job (\d+)/m.exec(r.stdout);
      if (r.status !== 0 || !m) throw new Error(`sbatch ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
      return m[1] as string;
    },

    job(id) {
      const r = s.asRoot([`${BIN}/scontrol`, 'show', 'job', '-o', id]);
      const line = r.stdout.split('\n').find((l) => l.startsWith('JobId='));
      return r.status === 0 && line ? parseScontrolLine(line) : null;
    },

    async waitFor(id, pred, timeoutMs) {
      const until = performance.now() + timeoutMs;
      let last: JobInfo | null = null;
      while (performance.now() < until) {
        last = s.job(id);
        if (last && pred(last)) return last;
        await sleep(200);
      }
      throw new Error(`job ${id} did not get there in ${timeoutMs} ms; last scontrol show job: ${JSON.stringify(last)}`);
    },

    async waitDone(id, timeoutMs = 120_000) {
      return s.waitFor(id, (j) => FINAL_JOB_STATES.includes(j.JobState ?? ''), timeoutMs);
    },

    jobs() {
      return ids(['-t', 'all']);
    },

    node() {
      const r = s.asRoot([`${BIN}/sinfo`, '-h', '-N', '-n', nodeName, '-o', '%T|%E']);
      const line = r.stdout.split('\n').find((l) => l.includes('|'));
      if (r.status !== 0 || !line) return { state: 'unreachable', reason: `${r.stderr}${r.stdout}`.trim() };
      const bar = line.indexOf('|');
      return { state: line.slice(0, bar).trim(), reason: line.slice(bar + 1).trim() };
    },

    resume() {
      const r = s.asRoot([`${BIN}/scontrol`, 'update', `nodename=${nodeName}`, 'state=resume']);
      // "Invalid node state specified": it was not drained or down.
      if (r.status !== 0 && !/Invalid node state/i.test(r.stderr)) throw new Error(`resume ${nodeName} failed (${r.status}): ${r.stderr}`);
    },

    async waitIdle(timeoutMs = 30_000) {
      const until = performance.now() + timeoutMs;
      let n = s.node();
      while (n.state !== 'idle') {
        if (performance.now() > until) throw new Error(`node ${nodeName} not idle after ${timeoutMs} ms (${n.state}: ${n.reason})`);
        await sleep(100);
        n = s.node();
      }
    },

    slurmdLog() {
      return existsSync(paths.slurmdLog) ? readFileSync(paths.slurmdLog, 'utf8').split('\n').filter((l) => l !== '') : [];
    },

    slurmctldLog() {
      return existsSync(paths.ctldLog) ? readFileSync(paths.ctldLog, 'utf8').split('\n').filter((l) => l !== '') : [];
    },

    sacctExit(id) {
      // -c: the completion records (jobcomp/filetxt), no slurmdbd. One row per run of the job; the last counts.
      const r = s.asRoot([`${BIN}/sacct`, '-c', '-n', '-P', '-j', id, '-o', 'JobID,ExitCode']);
      const rows = r.stdout.split('\n').map((l) => l.split('|')).filter((f) => f[0] === id && /^\d+:\d+$/.test(f[1] ?? ''));
      return rows.length > 0 ? ((rows[rows.length - 1] as string[])[1] as string) : null;
    },

    processes() {
      let ino: number;
      try {
        ino = statSync(netnsPath).ino;
      } catch {
        return [];
      }
      const want = `net:[${ino}]`;
      const found: { pid: number; comm: string }[] = [];
      for (const d of readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        const pid = Number(d);
        const p = proc(pid);
        if (!p || !SLURM_COMMS.has(p.comm) || p.state === 'Z' || p.state === 'X') continue;
        try {
          if (readlinkSync(`/proc/${pid}/ns/net`) === want) found.push({ pid, comm: p.comm });
        } catch {
          // gone meanwhile
        }
      }
      return found;
    },
  };
  return s;
}
