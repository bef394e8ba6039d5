import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { SiteConfig } from '../../src/core/config/schema.js';
import { defaultConfig } from '../../src/core/config/validate.js';
import { createRenderer } from '../../src/core/render/index.js';
import { jobDirName } from '../../src/engine/index.js';
import type { JobStateV1 } from '../../src/core/contract/job-state.v1.js';
import type { RunJobOptions } from '../../src/runner/index.js';

export const renderTemplates = createRenderer(fileURLToPath(new URL('../../templates', import.meta.url)));

export interface FixtureVm {
  readonly name: string;
  readonly rank: number;
  readonly ip: string | null;
  readonly hostKey: string;
}

export interface JobFixtureInput {
  readonly script: string;
  readonly vms: readonly FixtureVm[];
  /** Private key file (its content becomes ssh/id_ed25519). */
  readonly keyFile: string;
  readonly jobId?: string;
  readonly vmPrologue?: string | null;
  readonly vmEpilogue?: string | null;
  /** The guest user (default: whoever runs the tests) and, when not that, its uid:gid. */
  readonly user?: string;
  readonly guestOwner?: { readonly uid: number; readonly gid: number };
  readonly config?: Partial<SiteConfig>;
  /** An existing (empty) directory to use as the guest root; default: `<fixture dir>/guest`. */
  readonly guestRoot?: string;
}

/** A job's state dir as the root prologue leaves it, in a fresh SPOOL_DIR, plus a guest root. */
export interface JobFixture {
  readonly dir: string;
  readonly config: SiteConfig;
  readonly jobId: string;
  readonly stateDir: string;
  /** Stands for the guest's /var/spool/torque (vm/ and aux/ below it). */
  readonly guestRoot: string;
  readonly nodeFile: string;
}

let n = 0;

export function makeJobFixture(base: string, input: JobFixtureInput): JobFixture {
  const dir = mkdtempSync(join(base, `job${++n}-`));
  chmodSync(dir, 0o755); // a non-root guest user walks through it to its guest dirs
  const jobId = input.jobId ?? `${100 + n}.testserver`;
  const spool = join(dir, 'spool');
  const stateDir = join(spool, 'jobs', jobDirName(jobId));
  mkdirSync(join(stateDir, 'ssh'), { recursive: true });
  for (const d of [join(spool, 'jobs'), stateDir, join(stateDir, 'ssh')]) chmodSync(d, 0o711);
  const user = input.user ?? userInfo().username;
  const vms = input.vms.map((v) => ({ ...v, node: 'node01', hostname: `v${v.name}`, mac: '52:54:00:00:00:01', vcpus: 1, persistentDisk: false }));
  const state: JobStateV1 = {
    version: 1,
    jobId,
    user,
    guestJobDir: jobDirName(jobId),
    vms,
    vmPrologue: input.vmPrologue ?? null,
    vmEpilogue: input.vmEpilogue ?? null,
  };
  writeFileSync(join(stateDir, 'job.json'), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o400 });
  writeFileSync(join(stateDir, 'job-script'), input.script, { mode: 0o400 });
  writeFileSync(join(stateDir, 'vms.json'), `${JSON.stringify(vms, null, 2)}\n`, { mode: 0o644 });
  copyFileSync(input.keyFile, join(stateDir, 'ssh', 'id_ed25519'));
  chmodSync(join(stateDir, 'ssh', 'id_ed25519'), 0o600);
  const guestRoot = input.guestRoot ?? join(dir, 'guest');
  const nodeFile = makeGuestRoot(guestRoot, jobId, input.guestOwner);
  return { dir, config: { ...defaultConfig(), SPOOL_DIR: spool, SSH_TIMEOUT: 5, ...input.config }, jobId, stateDir, guestRoot, nodeFile };
}

/**
 * What cloud-init and the prologue leave in a guest under `root` (/var/spool/torque): vm/ owned by
 * the user with a root-owned job.env from the seed (the runner renames over it), aux/<job> the node
 * file. Returns the node file's path.
 */
export function makeGuestRoot(root: string, jobId: string, owner?: { readonly uid: number; readonly gid: number }): string {
  mkdirSync(join(root, 'vm'), { recursive: true, mode: 0o755 });
  mkdirSync(join(root, 'aux'), { mode: 0o755 });
  writeFileSync(join(root, 'vm', 'job.env'), '# from the seed\n', { mode: 0o644 });
  if (owner) chownSync(join(root, 'vm'), owner.uid, owner.gid);
  const nodeFile = join(root, 'aux', jobDirName(jobId));
  writeFileSync(nodeFile, '127.0.0.1\n');
  return nodeFile;
}

/** A sink that keeps what was written and when each chunk came. */
export class Sink extends PassThrough {
  readonly chunks: { at: number; text: string }[] = [];
  constructor() {
    super();
    this.on('data', (d: Buffer) => this.chunks.push({ at: Date.now(), text: d.toString('utf8') }));
  }
  get text(): string {
    return this.chunks.map((c) => c.text).join('');
  }
  /** Resolves once the output holds `needle`. */
  waitFor(needle: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(needle)} in ${JSON.stringify(this.text)}`)), timeoutMs);
      const check = (): void => {
        if (!this.text.includes(needle)) return;
        clearTimeout(timer);
        this.off('data', onData);
        resolve();
      };
      const onData = (): void => void setImmediate(check);
      this.on('data', onData);
      check();
    });
  }
}

export interface RunInput {
  readonly fixture: JobFixture;
  readonly port: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly args?: readonly string[];
  readonly signal?: AbortSignal;
  readonly termGraceSeconds?: number;
}

/** Options for runJob against the fixture, with PBS env a Torque mom would set. */
export function runOptions(input: RunInput, stdout: Sink, stderr: Sink): RunJobOptions {
  const f = input.fixture;
  return {
    config: f.config,
    env: { PBS_JOBID: f.jobId, PBS_JOBNAME: 'test-job', PBS_NODEFILE: '/var/spool/torque/aux/host-nodefile', PBS_O_WORKDIR: f.dir, HOME: '/nowhere', ...input.env },
    args: input.args ?? [],
    stdout,
    stderr,
    renderTemplates,
    guestRoot: f.guestRoot,
    port: input.port,
    ...(input.signal ? { signal: input.signal } : {}),
    ...(input.termGraceSeconds !== undefined ? { termGraceSeconds: input.termGraceSeconds } : {}),
  };
}
