import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { expect } from 'vitest';
import { jobDirName } from '../../src/core/contract/job-state.v1.js';
import { runSetup } from '../../src/admin/setup/index.js';
import { torqueHooks } from '../../src/torque/install/index.js';
import { parseConfigText, type SiteConfig } from '../../src/core/config/index.js';
import { encodeRequestLine, encodeScriptLine } from '../../src/core/contract/job-script.v1.js';
import type { VmRequest } from '../../src/core/request/types.js';
import { runLocal, type RunLocalOptions, type RunLocalResult } from '../../src/torque/run-local/index.js';
import { ensureTestUser, REPO, TEST_USER } from '../runlocal/fixture.js';

export { REPO, TEST_USER };
export const HOST = hostname().split('.')[0] as string;
export const IMAGE = 'debian-12-x86_64.qcow2';
/** A libvirt URI whose socket does not exist: every connection fails at once (a node fault). */
export const DEAD_URI = 'qemu:///system?socket=/nonexistent/libvirt-sock';

/** The site hooks present before `vtorque setup`, which moves them to `<hook>.orig`. */
export const SITE_HOOKS = ['prologue', 'epilogue', 'epilogue.precancel'] as const;
export type SiteHook = (typeof SITE_HOOKS)[number];

/**
 * A site hook as an admin might have it, steered from `<ctl>`: appends `<argc> <uid>` to `<hook>.ran`,
 * prints `<hook>.say`, runs the shell snippet `<hook>.sh` (argv as its own), sleeps `<hook>.sleep`
 * seconds, exits `<hook>.rc` (default 0).
 */
function siteHook(ctl: string, hook: SiteHook): string {
  const c = `'${ctl}'/${hook}`;
  return `#!/bin/sh
echo "$# $(id -u)" >> ${c}.ran
[ -f ${c}.say ] && cat ${c}.say
[ -f ${c}.sh ] && . ${c}.sh
[ -f ${c}.sleep ] && sleep "$(cat ${c}.sleep)"
exit "$(cat ${c}.rc 2>/dev/null || echo 0)"
`;
}

export interface HookSite {
  readonly root: string;
  readonly torqueHome: string;
  readonly momPriv: string;
  readonly jobsDir: string;
  readonly spool: string;
  readonly logDir: string;
  readonly pool: string;
  readonly work: string;
  readonly ctl: string;
  readonly prefix: string;
  readonly hooksDir: string;
  readonly configPath: string;
  readonly uid: number;
  readonly home: string;
  readonly setupLines: readonly string[];
  /** The site config as the hooks read it (from configPath), after `configure`. */
  config(): SiteConfig;
  /** Rewrite the site config file with these keys over the base ones (the installed hooks re-read it every run). */
  configure(over?: Record<string, unknown>): void;
  /** How the site's original hook behaves on its next runs (`sh`: a shell snippet it sources, as root or, for precancel, the owner). */
  site(hook: SiteHook, o: { rc?: number; say?: string; sleep?: number; sh?: string }): void;
  /** `[argc, uid]` of every run of the site's `<hook>.orig` so far. */
  siteRuns(hook: SiteHook): [number, number][];
  /** A file the site hooks' snippets wrote into `<ctl>` ('' when absent). */
  ctlFile(name: string): string;
  run(args: string[], more?: Partial<RunLocalOptions>): Promise<RunLocalResult>;
  /** Back to a clean state between tests: base config, silent site hooks, empty logs and spool. */
  reset(): void;
  cleanup(): void;
}

export const BASE_REQUEST: VmRequest = {
  version: 1, img: IMAGE, distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 256, vms_per_node: 1,
  vcpu_pinning: false, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

/** A VM job script as vsub writes it (line 2 = the frozen request), for hooks called directly. */
export function vmJobScript(request: Partial<VmRequest> = {}, script = '#!/bin/sh\necho hi\n'): string {
  return `#!/bin/sh\n${encodeRequestLine({ ...BASE_REQUEST, ...request })}\n${encodeScriptLine(script)}\nexit 0\n`;
}

export async function makeHookSite(): Promise<HookSite> {
  const { uid, home } = ensureTestUser();
  const root = mkdtempSync(join(tmpdir(), 'vtq-hooks-'));
  chmodSync(root, 0o755);
  const torqueHome = join(root, 'torque');
  const momPriv = join(torqueHome, 'mom_priv');
  const jobsDir = join(momPriv, 'jobs');
  const spool = join(root, 'vspool');
  const logDir = join(root, 'log');
  const pool = join(root, 'pool');
  const work = join(root, 'work');
  const ctl = join(root, 'ctl');
  const prefix = join(root, 'opt', 'vtorque');
  const configPath = join(root, 'etc', 'vtorque', 'config.yaml');
  mkdirSync(torqueHome, { mode: 0o755 });
  mkdirSync(momPriv, { mode: 0o751 });
  mkdirSync(jobsDir, { mode: 0o751 });
  chmodSync(momPriv, 0o751);
  chmodSync(jobsDir, 0o751);
  for (const d of [pool, work, ctl]) mkdirSync(d, { mode: 0o755 });
  chmodSync(ctl, 0o1777); // the site's precancel runs as the owner
  chownSync(work, uid, uid);
  mkdirSync(join(root, 'etc', 'vtorque'), { recursive: true, mode: 0o755 });
  const made = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(pool, IMAGE), '64M'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`qemu-img create: ${made.stderr}`);
  writeFileSync(join(work, 'job.sh'), '#!/bin/sh\necho "plain job on $(hostname -s) as $(id -un)"\necho "plain job stderr" >&2\nexit 0\n', { mode: 0o755 });
  chownSync(join(work, 'job.sh'), uid, uid);
  for (const hook of SITE_HOOKS) writeFileSync(join(momPriv, hook), siteHook(ctl, hook), { mode: hook === 'epilogue.precancel' ? 0o555 : 0o700 });

  const base = {
    TORQUE_HOME: torqueHome, SPOOL_DIR: spool, LOG_DIR: logDir, VM_IMG_DIR: pool,
    LIBVIRT_URI: 'test:///default', HYPERVISOR: 'qemu', VCPUS_DEFAULT: 1, RAM_DEFAULT: '256M',
    HOST_OS_CORE_COUNT: 1, HOST_OS_RAM_MB: 0,
    // The epilogue would otherwise pkill every process of the shared test user (other test files run jobs as vtqrun too).
    KILL_USER_PROCESSES_AFTER_JOB: false,
  };
  const configure = (over: Record<string, unknown> = {}): void => writeFileSync(configPath, yaml.dump({ ...base, ...over }), { mode: 0o644 });
  configure();
  const lines: string[] = [];
  await runSetup(
    { prefix, momPriv, uninstall: false, dryRun: false, configPath, profileDir: join(root, 'etc', 'profile.d'), sourceRoot: REPO, nodePath: process.execPath, torqueHome, spoolDir: spool },
    (l) => lines.push(l),
    torqueHooks,
  );

  const hs: HookSite = {
    root, torqueHome, momPriv, jobsDir, spool, logDir, pool, work, ctl, prefix, configPath, uid, home,
    hooksDir: join(prefix, 'lib', 'vtorque', 'hooks'),
    setupLines: lines,
    config: () => parseConfigText(readFileSync(configPath, 'utf8'), configPath).config,
    configure,
    site(hook, o) {
      for (const [key, value] of [['rc', o.rc], ['say', o.say === undefined ? undefined : `${o.say}\n`], ['sleep', o.sleep], ['sh', o.sh]] as const) {
        const path = join(ctl, `${hook}.${key}`);
        if (value === undefined) rmSync(path, { force: true });
        else writeFileSync(path, String(value), { mode: 0o644 });
      }
    },
    siteRuns(hook) {
      const path = join(ctl, `${hook}.ran`);
      const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
      return text.split('\n').filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]);
    },
    ctlFile(name) {
      const path = join(ctl, name);
      return existsSync(path) ? readFileSync(path, 'utf8') : '';
    },
    run(args, more = {}) {
      // The installed vsub (a copy of dist/vsub.mjs): its job wrapper then runs the installed runner,
      // which finds this site's config through the installation's config-path, as on a real node.
      return runLocal({ config: hs.config(), vsubCommand: [join(prefix, 'bin', 'vsub')], vsubArgs: args, user: TEST_USER, cwd: work, stdin: '', out: null, ...more });
    },
    reset() {
      configure();
      for (const e of readdirSync(ctl)) rmSync(join(ctl, e), { recursive: true, force: true });
      rmSync(logDir, { recursive: true, force: true });
      for (const d of ['jobs', 'attempts', 'cancel', 'records']) rmSync(join(spool, d), { recursive: true, force: true });
      if (!existsSync(join(pool, IMAGE))) spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(pool, IMAGE), '64M']);
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  return hs;
}

/** Entries of a directory; [] when it does not exist. */
export function entries(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

export interface HookCall {
  /** Exit code; -1 when a signal ended it. */
  readonly rc: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A job staged for direct hook calls: its .SC (root 0700, as pbs_mom keeps it) and node file. */
export interface DirectJob {
  readonly jobId: string;
  readonly sc: string;
  /** PBS_NODEFILE as pbs_mom spells it (aux//<jobid>). */
  readonly nodefile: string;
}

/** `sisters`: the job's other nodes after this one in PBS_NODEFILE, each with `slots` lines too. */
export function stageJob(s: HookSite, jobId: string, script: string, slots: number, sisters: readonly string[] = []): DirectJob {
  const sc = join(s.jobsDir, `${jobId}.SC`);
  writeFileSync(sc, script, { mode: 0o700 });
  const aux = join(s.torqueHome, 'aux');
  mkdirSync(aux, { recursive: true, mode: 0o755 });
  writeFileSync(join(aux, jobId), [HOST, ...sisters].map((n) => `${n}\n`.repeat(slots)).join(''), { mode: 0o644 });
  return { jobId, sc, nodefile: `${aux}//${jobId}` };
}

export function unstageJob(s: HookSite, job: DirectJob): void {
  rmSync(job.sc, { force: true });
  rmSync(join(s.torqueHome, 'aux', job.jobId), { force: true });
}

/** The resource list pbs_mom passes a direct job's hooks: what vsub would have raised for the base request. */
export const DIRECT_RESOURCES = 'nodes=1:ppn=2,neednodes=1:ppn=2,mem=1gb';

/** pbs_mom's prologue argv[1..8] for a direct job; `withScript: false` gives older Torque's 7. */
export function prologueArgv(job: DirectJob, withScript = true, resources = DIRECT_RESOURCES): string[] {
  const args = [job.jobId, TEST_USER, TEST_USER, 'direct', resources, 'batch', ''];
  return withScript ? [...args, job.sc] : args;
}

/** pbs_mom's epilogue-family argv[1..11]; `withScript: false` gives older Torque's 10. */
export function epilogueArgv(job: DirectJob, o: { session?: string; used?: string; exit?: number; withScript?: boolean; resources?: string } = {}): string[] {
  const args = [job.jobId, TEST_USER, TEST_USER, 'direct', o.session ?? '0', o.resources ?? DIRECT_RESOURCES, o.used ?? '', 'batch', '', String(o.exit ?? 0)];
  return o.withScript === false ? args : [...args, job.sc];
}

/**
 * Run an installed hook the way pbs_mom does (torque-hook-contract.md §5.2-5.3): through the
 * mom_priv symlink, in its own session, stdin /dev/null, the mom's near-empty environment plus PBS_*,
 * as root in mom_priv (prologue umask 077, others 022), or as the job owner in the owner's home
 * for epilogue.precancel.
 */
export function callHook(s: HookSite, hook: 'prologue' | 'epilogue' | 'epilogue.parallel' | 'epilogue.precancel', args: readonly string[], nodefile?: string): Promise<HookCall> {
  const asOwner = hook === 'epilogue.precancel';
  const cwd = asOwner ? s.home : s.momPriv;
  // A sister mom (epilogue.parallel) is node 1 of the job and gets no PBS_NODEFILE.
  const env: Record<string, string> = {
    LANG: 'C.UTF-8', PATH: '/bin:/usr/bin', PBS_MSHOST: HOST, PBS_NODENUM: hook === 'epilogue.parallel' ? '1' : '0', PBS_NP: '2', PBS_NUM_NODES: '1', PBS_NUM_PPN: '2',
    PBS_O_WORKDIR: s.work, PBS_RESOURCE_NODES: '1:ppn=2', PWD: cwd, SHLVL: '1',
    ...(nodefile === undefined ? {} : { PBS_NODEFILE: nodefile }),
  };
  const privileges = asOwner ? ['setpriv', `--reuid=${s.uid}`, `--regid=${s.uid}`, '--init-groups', '--'] : [];
  const command = [...privileges, '/bin/sh', '-c', `umask ${hook === 'prologue' ? '077' : '022'}; exec "$0" "$@"`, join(s.momPriv, hook), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0] as string, command.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ rc: code ?? -1, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/**
 * The prologue refused the job and left it to run only to tell its owner why (Torque delivers
 * nothing of a prologue that exits 1): rc 0, the reason in its output, the job's state dir holding
 * only the owner's outcome (0400) with this fault, root's record naming no VM.
 */
export function expectToldWhy(s: HookSite, jobId: string, pro: HookCall, needle: string, fault: 'job' | 'node' | 'cancel' = 'job'): void {
  expect(pro.rc, pro.stdout + pro.stderr).toBe(0);
  expect(pro.stdout).toContain(needle);
  expect(pro.stdout).toContain('The job is aborted');
  expect(pro.stdout).not.toMatch(/VM\(s\) ready/);
  const dir = join(s.spool, 'jobs', jobDirName(jobId));
  expect(entries(dir)).toEqual(['outcome.json']);
  const outcome = JSON.parse(readFileSync(join(dir, 'outcome.json'), 'utf8')) as { fault: string; reason: string; exitCode: number };
  expect(outcome.fault).toBe(fault);
  expect(outcome.reason).toContain(needle);
  expect(statSync(join(dir, 'outcome.json')).uid).toBe(s.uid);
  const record = JSON.parse(readFileSync(join(s.spool, 'records', `${jobDirName(jobId)}.json`), 'utf8')) as { vms: string[]; componentStops: unknown[] };
  expect([record.vms, record.componentStops]).toEqual([[], []]);
}
