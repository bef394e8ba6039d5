// A whole vTorque node on this machine for the slow tier and `npm run bench -- e2e`: the cached
// guest image hard-linked into a scratch pool, a libvirt sandbox in its own network namespace,
// `vtorque setup` into a scratch prefix with a scratch mom_priv, a job user, and jobs run through
// the installed hooks with runLocal (as pbs_mom would run them). Nothing here touches the root
// network namespace: guests live on the sandbox's isolated network only.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { parseConfigText, type SiteConfig } from '../../../src/core/config/index.js';
import { run } from '../../../src/core/exec/run.js';
import { buildImage, linkImageIntoPool, type ImageArtifacts } from '../../../src/image/index.js';
import { runLocal, type RunLocalOptions, type RunLocalResult } from '../../../src/torque/run-local/index.js';
import { inSandbox, sandboxDown, sandboxStatus, sandboxUp, type SandboxOptions } from '../../../src/sandbox/index.js';

export const REPO = new URL('../../..', import.meta.url).pathname.replace(/\/$/, '');
export const IMAGE_DIR = process.env.VTQ_TEST_IMAGE_DIR ?? '/var/cache/vtorque/test-image';
export const DEB_CACHE = process.env.VTQ_TEST_DEB_CACHE ?? '/var/cache/vtorque';

export interface VmSiteOptions {
  /** Sandbox (network namespace) name. */
  readonly name: string;
  readonly network: { readonly name: string; readonly bridge: string; readonly subnet: string };
  /** Scratch directory for everything but the image cache; wiped on open and on close. */
  readonly root: string;
  /** Job owner, created with useradd when missing. */
  readonly user: string;
  readonly log: (line: string) => void;
  /** Site config on top of the defaults below. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Build (or reuse) the guest image and put it in the pool (default true); false: an empty pool. */
  readonly image?: boolean;
  /**
   * An existing TORQUE_HOME (a real Torque install, whose pbs_mom runs the hooks) instead of a
   * scratch one under `root`: setup links into its mom_priv, uninstall restores it.
   */
  readonly torqueHome?: string;
  /** `slurm`: setup --slurm (the Slurm hook fronts and include, vsbatch) instead of the mom_priv links. */
  readonly scheduler?: 'torque' | 'slurm';
}

/** What a job can leave behind; every list is empty after a clean run. */
export interface Leftovers {
  /** `vtq-*` domains, running or defined. */
  readonly domains: string[];
  /** Entries of SPOOL_DIR/jobs (the per-job VM directories). */
  readonly jobDirs: string[];
  /** Mounts below the scratch root. */
  readonly mounts: string[];
  /** mom_priv/jobs, aux and the Torque spool: run-local's staging. */
  readonly torqueFiles: string[];
  /** Complete (not 0x0) ARP entries of the given guest IPs in the sandbox namespace. */
  readonly arp: string[];
  /** Left in SPOOL_DIR/cancel. */
  readonly cancelMarkers: string[];
  /** SPOOL_DIR/attempts: the prologue's node-fault counters, dropped once a job leaves the requeue loop. */
  readonly attemptCounters: string[];
  /** SPOOL_DIR/records: root's record of each started job, removed once everything it names is gone. */
  readonly records: string[];
}

export interface VmSite {
  readonly opts: VmSiteOptions;
  readonly prefix: string;
  readonly torqueHome: string;
  readonly momPriv: string;
  readonly configPath: string;
  readonly spoolDir: string;
  readonly poolDir: string;
  /** The job owner's directory the jobs are submitted from (and their scripts live in). */
  readonly work: string;
  uri: string;
  image: ImageArtifacts | null;
  config: SiteConfig | null;
  /** Image, sandbox, install, user. */
  open(): Promise<void>;
  /** Rewrite the site config the installed hooks read (the base config plus `overrides`). */
  configure(overrides?: Readonly<Record<string, unknown>>): SiteConfig;
  /** A file in the work directory, owned by the job user. */
  writeUserFile(name: string, text: string, mode?: number): string;
  /** The site's own `<hook>.orig` (root, 0700): a shell body run before ours with the same argv; null removes it. */
  siteHook(hook: 'prologue' | 'epilogue', body: string | null): void;
  /** One job, submitted with the installed vsub and run through the installed hooks. */
  runJob(vsubArgs: readonly string[], more?: Partial<RunLocalOptions>): Promise<RunLocalResult>;
  /** `virsh -c <sandbox uri> …`. */
  virsh(args: readonly string[]): Promise<string>;
  /** /proc/net/arp inside the sandbox namespace. */
  arpTable(): Promise<string>;
  /** Stop the sandbox's libvirtd (SIGTERM, by its verified pid) and wait until it is gone; its pid. */
  stopLibvirtd(): Promise<number>;
  /** Start the sandbox's daemons again (what is not running). */
  startLibvirtd(): Promise<void>;
  /** Stop the sandbox's libvirtd (SIGTERM, by its verified pid; running guests stay) and start it again. */
  restartLibvirtd(): Promise<{ oldPid: number; newPid: number }>;
  leftovers(guestIps?: readonly string[]): Promise<Leftovers>;
  /** Uninstall, sandbox down (and its netns deleted), scratch removed. Safe after a partial open. */
  close(): Promise<void>;
}

const sh = (file: string, args: readonly string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
};

export function createVmSite(opts: VmSiteOptions): VmSite {
  const root = opts.root;
  const prefix = join(root, 'prefix');
  const torqueHome = opts.torqueHome ?? join(root, 'torque');
  const momPriv = join(torqueHome, 'mom_priv');
  const configPath = join(root, 'etc', 'config.yaml');
  const profileDir = join(root, 'profile.d');
  const spoolDir = join(root, 'spool');
  const poolDir = join(root, 'pool');
  const sandbox: SandboxOptions = { name: opts.name, stateDir: join(root, 'sandbox'), network: opts.network, log: (l) => opts.log(`sandbox: ${l}`) };
  const setupArgs = ['setup', '--prefix', prefix, ...(opts.scheduler === 'slurm' ? ['--slurm'] : ['--mom-priv', momPriv]), '--config', configPath, '--profile-dir', profileDir];
  const cli = (args: readonly string[]): { status: number | null; stdout: string; stderr: string } => sh(process.execPath, [join(REPO, 'dist', 'vtorque.mjs'), ...args]);
  let started = false;
  let home = '';

  const site: VmSite = {
    opts, prefix, torqueHome, momPriv, configPath, spoolDir, poolDir,
    get work() {
      return join(home, 'vtorque-e2e');
    },
    uri: '',
    image: null,
    config: null,

    async open() {
      if (process.getuid?.() !== 0) throw new Error('the VM site needs root');
      // A run killed before its close(): take its install and sandbox down before wiping the scratch.
      if (existsSync(join(prefix, 'lib', 'vtorque', 'install-manifest.json'))) cli([...setupArgs, '--uninstall']);
      if (existsSync(join(root, 'sandbox'))) await sandboxDown({ ...sandbox, deleteNetns: true });
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root, { recursive: true, mode: 0o755 });
      chmodSync(root, 0o755);
      mkdirSync(poolDir, { mode: 0o755 });
      if (opts.image !== false) {
        const t = performance.now();
        site.image = (await buildImage({ outDir: IMAGE_DIR, cacheDir: DEB_CACHE, log: (l) => opts.log(`image: ${l}`) })).artifacts;
        opts.log(`image ready after ${((performance.now() - t) / 1000).toFixed(1)} s`);
        // The pool holds the image by hard link (the cache stays the only copy), kernel, initrd and
        // kernel command line beside it for direct kernel boot (what `vmgr add` copies).
        linkImageIntoPool(site.image, poolDir);
      }

      started = true;
      site.uri = (await sandboxUp(sandbox)).uri;

      if (opts.torqueHome === undefined && opts.scheduler !== 'slurm') {
        mkdirSync(join(momPriv, 'jobs'), { recursive: true, mode: 0o751 });
        chmodSync(torqueHome, 0o755);
        chmodSync(momPriv, 0o751);
        chmodSync(join(momPriv, 'jobs'), 0o751);
      }
      mkdirSync(join(root, 'etc'), { mode: 0o755 });
      mkdirSync(profileDir, { mode: 0o755 });
      site.configure();
      const setup = cli(setupArgs);
      if (setup.status !== 0) throw new Error(`vtorque setup failed (${setup.status}): ${setup.stderr}${setup.stdout}`);
      opts.log(setup.stdout.trim().split('\n').pop() ?? '');

      if (sh('id', ['-u', opts.user]).status !== 0) {
        const made = sh('useradd', ['--create-home', '--shell', '/bin/bash', opts.user]);
        if (made.status !== 0 && sh('id', ['-u', opts.user]).status !== 0) throw new Error(`useradd ${opts.user}: ${made.stderr}`);
      }
      const pw = sh('getent', ['passwd', opts.user]).stdout.split(':');
      home = pw[5] as string;
      rmSync(site.work, { recursive: true, force: true });
      mkdirSync(site.work, { recursive: true, mode: 0o755 });
      chownSync(site.work, Number(pw[2]), Number(pw[3]));
    },

    configure(overrides = {}) {
      const raw = {
        TORQUE_HOME: torqueHome,
        SPOOL_DIR: spoolDir,
        LOG_DIR: join(root, 'log'),
        RAMDISK_DIR: join(root, 'ramdisk'),
        VM_IMG_DIR: poolDir,
        LIBVIRT_URI: site.uri,
        VM_NETWORK: opts.network.name,
        HYPERVISOR: 'qemu',
        VCPUS_DEFAULT: 1,
        RAM_DEFAULT: '1G',
        HOST_OS_CORE_COUNT: 1,
        HOST_OS_RAM_MB: 1024,
        TIMEOUT: 240,
        PROLOGUE_TIMEOUT: 280,
        ...opts.config,
        ...overrides,
      };
      const text = yaml.dump(raw);
      writeFileSync(configPath, text, { mode: 0o644 });
      site.config = parseConfigText(text, configPath).config;
      return site.config;
    },

    writeUserFile(name, text, mode = 0o644) {
      const path = join(site.work, name);
      writeFileSync(path, text, { mode });
      chmodSync(path, mode);
      const st = sh('stat', ['-c', '%u %g', site.work]).stdout.trim().split(' ');
      chownSync(path, Number(st[0]), Number(st[1]));
      return path;
    },

    siteHook(hook, body) {
      const path = join(momPriv, `${hook}.orig`);
      if (body === null) rmSync(path, { force: true });
      else writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o700 });
    },

    runJob(vsubArgs, more = {}) {
      if (site.config === null) throw new Error('site not open');
      return runLocal({
        config: site.config,
        vsubCommand: [process.execPath, join(prefix, 'lib', 'vtorque', 'dist', 'vsub.mjs')],
        vsubArgs,
        user: opts.user,
        netns: opts.name,
        cwd: site.work,
        stdin: '',
        out: null,
        ...more,
      });
    },

    async virsh(args) {
      return (await run('virsh', ['-c', site.uri, ...args], { timeoutMs: 30_000 })).stdout;
    },

    async arpTable() {
      const [file, ...args] = inSandbox(opts.name, 'cat', ['/proc/net/arp']);
      return (await run(file as string, args, { timeoutMs: 10_000 })).stdout;
    },

    async stopLibvirtd() {
      const oldPid = (await sandboxStatus(sandbox)).pids.libvirtd;
      if (oldPid === null) throw new Error('the sandbox libvirtd is not running');
      process.kill(oldPid, 'SIGTERM');
      for (let i = 0; i < 150 && existsSync(`/proc/${oldPid}`); i++) await new Promise((r) => setTimeout(r, 100));
      if (existsSync(`/proc/${oldPid}`)) throw new Error(`libvirtd ${oldPid} did not stop within 15 s`);
      return oldPid;
    },

    async startLibvirtd() {
      await sandboxUp(sandbox);
    },

    async restartLibvirtd() {
      const oldPid = await site.stopLibvirtd();
      const after = await sandboxUp(sandbox);
      if (after.pids.libvirtd === null) throw new Error('libvirtd did not come back');
      return { oldPid, newPid: after.pids.libvirtd };
    },

    async leftovers(guestIps = []) {
      const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
      const domains = (await site.virsh(['list', '--all', '--name'])).split('\n').map((l) => l.trim()).filter((l) => l.startsWith('vtq-'));
      const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${root}/`));
      const arpLines = (await site.arpTable()).split('\n').slice(1);
      const arp = arpLines.filter((l) => {
        const [ip, , flags] = l.trim().split(/\s+/);
        return ip !== undefined && guestIps.includes(ip) && flags !== '0x0';
      });
      const torqueFiles = [join(momPriv, 'jobs'), join(torqueHome, 'aux'), join(torqueHome, 'spool')].flatMap((d) => list(d).map((f) => join(d, f)));
      return { domains, jobDirs: list(join(spoolDir, 'jobs')), mounts, torqueFiles, arp: arp.map((l) => l.trim()), cancelMarkers: list(join(spoolDir, 'cancel')), attemptCounters: list(join(spoolDir, 'attempts')), records: list(join(spoolDir, 'records')) };
    },

    async close() {
      if (existsSync(join(prefix, 'lib', 'vtorque', 'install-manifest.json'))) {
        const un = cli([...setupArgs, '--uninstall']);
        if (un.status !== 0) opts.log(`uninstall failed (${un.status}): ${un.stderr}`);
      }
      if (started && site.uri !== '') {
        // A domain a failed test left running would keep the sandbox busy: destroy ours first.
        const names = await site.virsh(['list', '--all', '--name']).catch(() => '');
        for (const d of names.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('vtq-'))) {
          opts.log(`destroying leftover domain ${d}`);
          await run('virsh', ['-c', site.uri, 'destroy', d], { timeoutMs: 30_000, reject: false });
          await run('virsh', ['-c', site.uri, 'undefine', d, '--nvram'], { timeoutMs: 30_000, reject: false });
        }
      }
      if (started) await sandboxDown({ ...sandbox, deleteNetns: true });
      started = false;
      // VTQ_TEST_KEEP_LOGS=DIR: keep the hooks' JSON logs of the run (the scratch goes).
      const keep = process.env.VTQ_TEST_KEEP_LOGS;
      if (keep && existsSync(join(root, 'log'))) cpSync(join(root, 'log'), join(keep, opts.name), { recursive: true });
      rmSync(root, { recursive: true, force: true });
    },
  };
  return site;
}

/** The ARP table lines of `ips` (all flags), for messages. */
export function arpLinesOf(table: string, ips: readonly string[]): string[] {
  return table.split('\n').filter((l) => ips.includes(l.trim().split(/\s+/)[0] ?? ''));
}

/** The IPv4 addresses a job printed from its VM node file (lines that are just an address). */
export function nodeFileIps(output: string): string[] {
  return output.split('\n').map((l) => l.trim()).filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
}
