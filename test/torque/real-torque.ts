// Real Torque 6.1.3 (../shared/torque: its build for this machine, install.sh, daemons.sh) for the
// tests and the bench: pbs_server, pbs_sched, trqauthd and pbs_mom run inside a network namespace
// of ours (the sandbox's, so pbs_mom reaches the guests), every client runs there too, and the
// daemons are stopped by their PIDs (daemons.sh down) at the end.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../e2e/helpers/vm-site.js';

export const TORQUE_DIR = process.env.VTQ_TORQUE_DIR ?? join(REPO, '..', 'shared', 'torque');
export const TORQUE_PREFIX = '/opt/torque-ref';
/** Compiled into the build (daemons take -d, the clients find the server from here). */
export const TORQUE_HOME = '/var/spool/torque-ref';
export const QSUB = join(TORQUE_PREFIX, 'bin', 'qsub');

export interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface JobInfo {
  readonly [key: string]: string;
}

export interface RealTorque {
  readonly ns: string;
  /** install.sh (idempotent), then the server database, queue and node (daemons.sh init). */
  install(): void;
  /** `$prologalarm` in the mom config (the hooks and the site config are checked against it). */
  setPrologAlarm(seconds: number): void;
  /** Start the daemons (in the netns), keeping `$prologalarm`; the node free. */
  up(prologalarm: number): void;
  /** SIGTERM each daemon by its PID and wait (daemons.sh down). */
  down(): void;
  /** A Torque client or any command as `user` inside the netns, in `cwd`, with a login-like environment. */
  asUser(user: string, argv: readonly string[], o?: { cwd?: string; stdin?: string; env?: Record<string, string> }): Run;
  /** A client as root inside the netns (qmgr, pbsnodes, qstat). */
  asRoot(argv: readonly string[]): Run;
  /** `qstat -f JOB` as key → value. */
  job(id: string): JobInfo | null;
  /** Polls until the job is complete (job_state C); the last qstat -f. */
  waitDone(id: string, timeoutMs: number): Promise<JobInfo>;
  /** Polls until `pred` holds for the job (e.g. running), or throws after `timeoutMs`. */
  waitFor(id: string, pred: (j: JobInfo) => boolean, timeoutMs: number): Promise<JobInfo>;
  /** Today's server log lines mentioning `jobId`. */
  serverLog(jobId: string): string[];
  /** The node's state and any message pbs_mom attached (a sticky "ERROR" from a failed hook). */
  node(): { state: string; message: string; note: string };
  /** What Torque keeps for the job in TORQUE_HOME (mom_priv/jobs, spool, aux). */
  momFiles(jobId: string): string[];
}

/** `qstat -f` text as key → value (continuation lines, which start with a tab, joined). */
export function parseQstatF(text: string): JobInfo {
  const info: Record<string, string> = {};
  let key = '';
  for (const line of text.split('\n')) {
    const m = /^ {4}([A-Za-z_.]+) = (.*)$/.exec(line);
    if (m) {
      key = m[1] as string;
      info[key] = m[2] as string;
    } else if (key && /^\t/.test(line)) info[key] += line.trim();
  }
  return info;
}

const sh = (file: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {}): Run => {
  const r: SpawnSyncReturns<string> = spawnSync(file, args, { encoding: 'utf8', timeout: o.timeoutMs ?? 120_000, env: o.env ?? process.env, input: o.input ?? '', ...(o.cwd ? { cwd: o.cwd } : {}) });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function realTorque(ns: string, log: (line: string) => void): RealTorque {
  const daemons = (cmd: string): Run => {
    // NODE names the server and the node; npm sets NODE to the node binary, so it is always given.
    const r = sh('bash', [join(TORQUE_DIR, 'daemons.sh'), cmd], { env: { ...process.env, NS: ns, NODE: hostname() }, timeoutMs: 180_000 });
    // init on an existing server database asks qmgr for what is already there (it cannot connect yet): quiet.
    const noise = /cannot connect|Unable to communicate|Cannot connect|Connection refused|socket_connect_unix|could not connect to trqauthd/;
    for (const line of `${r.stdout}${r.stderr}`.trim().split('\n').filter((l) => l !== '' && !noise.test(l))) log(`torque ${cmd}: ${line}`);
    return r;
  };
  const inNs = (argv: readonly string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];
  const t: RealTorque = {
    ns,
    install() {
      const r = sh('bash', [join(TORQUE_DIR, 'install.sh')], { timeoutMs: 40 * 60_000 });
      if (r.status !== 0) throw new Error(`torque install.sh failed (${r.status}): ${r.stderr}${r.stdout}`);
      log(r.stdout.trim());
      const resolved = sh('getent', ['hosts', sh('hostname', []).stdout.trim()]).stdout;
      if (!/^127\./.test(resolved)) throw new Error(`Torque here needs the hostname to resolve to a loopback address (/etc/hosts); it resolves to "${resolved.trim()}"`);
    },
    setPrologAlarm(seconds) {
      const path = join(TORQUE_HOME, 'mom_priv', 'config');
      const kept = existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('$prologalarm')) : [];
      writeFileSync(path, `${[...kept, `$prologalarm ${seconds}`].join('\n')}\n`, { mode: 0o644 });
    },
    up(prologalarm) {
      const init = daemons('init');
      if (init.status !== 0) throw new Error(`daemons.sh init failed: ${init.stderr}`);
      // init writes the mom config afresh; pbs_mom reads it when it starts (below).
      t.setPrologAlarm(prologalarm);
      const up = daemons('up');
      if (up.status !== 0 || up.stderr.includes('not free')) throw new Error(`daemons.sh up failed: ${up.stderr}${up.stdout}`);
      // An earlier run's server attributes must not steer this one.
      t.asRoot([join(TORQUE_PREFIX, 'bin', 'qmgr'), '-c', 'unset server sendmail_path']);
      for (const id of t.asRoot([join(TORQUE_PREFIX, 'bin', 'qselect'), '-s', 'QHRTWE']).stdout.split('\n').filter(Boolean)) {
        t.asRoot([join(TORQUE_PREFIX, 'bin', 'qdel'), '-p', id]);
        log(`purged a job left by an earlier run: ${id}`);
      }
    },
    down() {
      daemons('down');
      const left = daemons('status').stdout.split('\n').filter((l) => /^(trqauthd|pbs_server|pbs_mom|pbs_sched) \d+/.test(l));
      if (left.length > 0) throw new Error(`Torque daemons still running: ${left.join(', ')}`);
    },
    asUser(user, argv, o = {}) {
      const pw = sh('getent', ['passwd', user]).stdout.split(':');
      const home = pw[5] ?? '/';
      const env = { HOME: home, USER: user, LOGNAME: user, PATH: `${join(TORQUE_PREFIX, 'bin')}:/usr/local/bin:/usr/bin:/bin`, LANG: 'C.UTF-8', ...o.env };
      const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
      const full = inNs(['setpriv', `--reuid=${pw[2]}`, `--regid=${pw[3]}`, '--init-groups', '--', 'env', '-i', ...envArgs, ...argv]);
      return sh(full[0] as string, full.slice(1), { cwd: o.cwd ?? home, ...(o.stdin === undefined ? {} : { input: o.stdin }) });
    },
    asRoot(argv) {
      const full = inNs(argv);
      return sh(full[0] as string, full.slice(1));
    },
    job(id) {
      const r = t.asRoot([join(TORQUE_PREFIX, 'bin', 'qstat'), '-f', id]);
      return r.status === 0 ? parseQstatF(r.stdout) : null;
    },
    async waitDone(id, timeoutMs) {
      return t.waitFor(id, (j) => j.job_state === 'C', timeoutMs);
    },
    async waitFor(id, pred, timeoutMs) {
      const until = performance.now() + timeoutMs;
      let last: JobInfo | null = null;
      while (performance.now() < until) {
        last = t.job(id);
        if (last && pred(last)) return last;
        await sleep(1000);
      }
      throw new Error(`job ${id} did not get there in ${timeoutMs} ms; last qstat -f: ${JSON.stringify(last)}`);
    },
    serverLog(jobId) {
      const dir = join(TORQUE_HOME, 'server_logs');
      const files = existsSync(dir) ? readdirSync(dir).sort() : [];
      const text = files.slice(-2).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
      return text.split('\n').filter((l) => l.includes(`;${jobId};`) || l.includes(`Job ${jobId} `));
    },
    node() {
      const text = t.asRoot([join(TORQUE_PREFIX, 'bin', 'pbsnodes'), '-a']).stdout;
      const get = (k: string): string => new RegExp(`^\\s+${k} = (.*)$`, 'm').exec(text)?.[1] ?? '';
      return { state: get('state'), message: /message=([^,]*)/.exec(get('status'))?.[1] ?? '', note: get('note') };
    },
    momFiles(jobId) {
      const stem = jobId.split('.')[0] as string;
      return ['mom_priv/jobs', 'spool', 'aux'].flatMap((d) => {
        const dir = join(TORQUE_HOME, d);
        return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${stem}.`)).map((f) => `${d}/${f}`) : [];
      });
    },
  };
  return t;
}
