import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { parseConfigText, type SiteConfig } from '../../src/core/config/index.js';
import { runLocal, type RunLocalOptions, type RunLocalResult } from '../../src/torque/run-local/index.js';

export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const TEST_USER = 'vtqrun';
export const HOOKS = ['prologue', 'epilogue', 'epilogue.precancel'] as const;
export type StubHook = (typeof HOOKS)[number];

/** One recorded hook (or job) invocation, read back from the files the stub wrote. */
export interface Invocation {
  readonly name: string;
  readonly argv: string[];
  readonly argc: number;
  readonly env: Record<string, string>;
  readonly uid: number;
  readonly groups: number[];
  readonly umask: string;
  readonly cwd: string;
  readonly stdin: string;
  readonly stdout: string;
  readonly pid: number;
  readonly sid: number;
  readonly t: number;
  readonly netns: string;
  /** Owner uid and mode of the .SC when it ran (the last argument of a hook, $0 of the job). */
  readonly scstat: string;
}

export interface Fixture {
  readonly root: string;
  readonly torqueHome: string;
  readonly momPriv: string;
  readonly hookDir: string;
  readonly rec: string;
  readonly work: string;
  readonly config: SiteConfig;
  /** The same config as a file, for the CLI (`--config`). */
  readonly configPath: string;
  readonly uid: number;
  readonly home: string;
  /** Exit code (and optional sleep) a stub hook uses on its next runs. */
  control(hook: StubHook | 'job', opts: { rc?: number; sleep?: number }): void;
  /** Every recorded invocation of `name`, oldest first. */
  calls(name: StubHook | 'job'): Invocation[];
  run(args: string[], more?: Partial<RunLocalOptions>): Promise<RunLocalResult>;
  /** Forget the recorded calls and the controls; the stub hooks get their installed modes back. */
  reset(): void;
  cleanup(): void;
}

/** As `vtorque setup` installs them: precancel runs as the owner, so it is also o+rx. */
const hookMode = (hook: StubHook): number => (hook === 'epilogue.precancel' ? 0o555 : 0o500);

/** The job owner for the tests; created once (we are root). */
export function ensureTestUser(): { uid: number; home: string } {
  if (spawnSync('id', ['-u', TEST_USER]).status !== 0) {
    const made = spawnSync('useradd', ['--create-home', '--shell', '/bin/bash', TEST_USER], { encoding: 'utf8' });
    if (made.status !== 0 && spawnSync('id', ['-u', TEST_USER]).status !== 0) throw new Error(`useradd ${TEST_USER}: ${made.stderr}`);
  }
  const pw = (spawnSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).stdout.split(':'));
  return { uid: Number(pw[2]), home: pw[5] as string };
}

/** sh lines recording a process's whole context into "$d" (the stub hooks and the job script alike). */
const RECORD_CONTEXT = `date +%s%N > "$d/t"
printf '%s\\n' "$#" > "$d/argc"
for a in "$0" "$@"; do printf '%s\\n' "$a"; done > "$d/argv"
env > "$d/env"
id -u > "$d/uid"
id -G > "$d/groups"
umask > "$d/umask"
pwd -P > "$d/cwd"
printf '%s\\n' "$fd0" > "$d/stdin"
printf '%s\\n' "$fd1" > "$d/stdout"
echo $$ > "$d/pid"
cut -d' ' -f6 /proc/$$/stat > "$d/sid"
readlink /proc/$$/ns/net > "$d/netns"
`;

/** The stub every hook name points at: records its whole context, then sleeps and exits as told. */
function stubHook(rec: string): string {
  return `#!/bin/sh
fd0=$(readlink /proc/$$/fd/0) fd1=$(readlink /proc/$$/fd/1)
n=\${0##*/}
d='${rec}'/$n.$$
mkdir "$d"
${RECORD_CONTEXT}for a in "$@"; do last=$a; done
stat -c '%u %a' "$last" > "$d/scstat"
echo "$n says hello on stdout"
echo "$n says hello on stderr" >&2
if [ -f '${rec}'/$n.sleep ]; then sleep "$(cat '${rec}'/$n.sleep)" & echo $! > "$d/child"; wait; fi
rc=0
[ -f '${rec}'/$n.rc ] && rc=$(cat '${rec}'/$n.rc)
exit "$rc"
`;
}

/** The user's job script: prints what the tests look at, records its environment, exits as told. */
export function jobScript(rec: string): string {
  return `#!/bin/sh
#PBS -N fromdirective
#PBS -q fast
fd0=$(readlink /proc/$$/fd/0) fd1=$(readlink /proc/$$/fd/1)
d='${rec}'/job.$$
mkdir "$d"
${RECORD_CONTEXT}stat -c '%u %a' "$0" > "$d/scstat"
echo "job says hello, args: $*"
echo "job error line" >&2
if [ -f '${rec}'/job.sleep ]; then sleep "$(cat '${rec}'/job.sleep)"; fi
exit "$(cat '${rec}'/job.rc 2>/dev/null || echo 0)"
`;
}

export function makeFixture(): Fixture {
  const { uid, home } = ensureTestUser();
  const root = mkdtempSync(join(tmpdir(), 'vtq-rl-'));
  chmodSync(root, 0o755);
  const torqueHome = join(root, 'torque');
  const momPriv = join(torqueHome, 'mom_priv');
  const hookDir = join(root, 'lib', 'vtorque', 'hooks');
  const rec = join(root, 'rec');
  const work = join(root, 'work');
  const pool = join(root, 'pool');
  mkdirSync(torqueHome, { mode: 0o755 });
  mkdirSync(momPriv, { mode: 0o751 });
  mkdirSync(hookDir, { recursive: true, mode: 0o755 });
  for (const d of [rec, work, pool]) mkdirSync(d, { mode: 0o755 });
  chmodSync(rec, 0o1777); // the precancel stub writes here as the owner
  chownSync(work, uid, uid);
  writeFileSync(join(pool, 'debian-12-x86_64.qcow2'), 'not really an image', { mode: 0o644 });
  // As `vtorque setup` installs them: mom_priv/<hook> -> <prefix>/lib/vtorque/hooks/<hook>.
  for (const hook of HOOKS) {
    writeFileSync(join(hookDir, hook), stubHook(rec), { mode: hookMode(hook) });
    symlinkSync(join(hookDir, hook), join(momPriv, hook));
  }
  writeFileSync(join(work, 'job.sh'), jobScript(rec), { mode: 0o755 });
  chownSync(join(work, 'job.sh'), uid, uid);
  const raw = { TORQUE_HOME: torqueHome, SPOOL_DIR: join(root, 'vspool'), VM_IMG_DIR: pool, VCPUS_DEFAULT: 1, RAM_DEFAULT: 512, HOST_OS_CORE_COUNT: 1 };
  const { config } = parseConfigText(yaml.dump(raw), 'test config');
  const configPath = join(root, 'config.yaml');
  writeFileSync(configPath, yaml.dump(raw), { mode: 0o644 });

  const fx: Fixture = {
    root, torqueHome, momPriv, hookDir, rec, work, config, configPath, uid, home,
    control(hook, opts) {
      for (const [key, value] of [['rc', opts.rc], ['sleep', opts.sleep]] as const) {
        const path = join(rec, `${hook}.${key}`);
        if (value === undefined) rmSync(path, { force: true });
        else writeFileSync(path, String(value), { mode: 0o644 });
      }
    },
    calls(name) {
      const dirs = readdirSync(rec).filter((e) => e.startsWith(`${name}.`) && /^\d+$/.test(e.slice(name.length + 1)));
      return dirs.map((e) => readInvocation(join(rec, e), name)).sort((a, b) => a.t - b.t);
    },
    run(args, more = {}) {
      return runLocal({ config, vsubCommand: [process.execPath, join(REPO, 'dist', 'vsub.mjs')], vsubArgs: args, user: TEST_USER, cwd: work, stdin: '', out: null, ...more });
    },
    reset() {
      for (const e of readdirSync(rec)) rmSync(join(rec, e), { recursive: true, force: true });
      for (const hook of HOOKS) chmodSync(join(hookDir, hook), hookMode(hook));
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  return fx;
}

function readInvocation(dir: string, name: string): Invocation {
  const read = (f: string): string => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  const lines = (f: string): string[] => read(f).replace(/\n$/, '').split('\n');
  const env: Record<string, string> = {};
  for (const line of lines('env')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return {
    name,
    argv: lines('argv'),
    argc: Number(read('argc')),
    env,
    uid: Number(read('uid')),
    groups: read('groups').trim().split(/\s+/).map(Number),
    umask: read('umask').trim(),
    cwd: read('cwd').trim(),
    stdin: read('stdin').trim(),
    stdout: read('stdout').trim(),
    pid: Number(read('pid')),
    sid: Number(read('sid')),
    t: Number(read('t')),
    netns: read('netns').trim(),
    scstat: read('scstat').trim(),
  };
}
