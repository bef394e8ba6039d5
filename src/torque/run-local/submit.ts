import { readFdFully } from '../../core/fs/index.js';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, constants as C, fstatSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import type { SiteConfig } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { CAPTURE_FILES, renderCaptureScript } from './capture-script.js';
import type { SubmitRecord } from './types.js';
import type { JobOwner } from './user.js';

/** What the stand-in qsub saw: its argv, cwd and environment, and the job script it was given. */
export interface Captured {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: ReadonlyMap<string, string>;
  readonly script: string;
}

export interface SubmitInput {
  readonly config: SiteConfig;
  readonly vsubCommand: readonly string[];
  readonly vsubArgs: readonly string[];
  readonly owner: JobOwner;
  readonly cwd: string;
  readonly stdin: string | 'inherit';
  readonly jobId: string;
  readonly setpriv: string;
}

const USER_PATH = '/usr/local/bin:/usr/bin:/bin';
const MAX_SCRIPT = 64 << 20;

/**
 * Run the real vsub as the job owner against a copy of the site config whose qsub is the capture
 * script. The temporary directory is root's (0755); only its `capture/` is the owner's.
 */
export async function submitThroughVsub(input: SubmitInput): Promise<{ record: SubmitRecord; captured: Captured | null }> {
  const { owner } = input;
  const tmp = mkdtempSync(join(tmpdir(), 'vtq-runlocal-'));
  try {
    chmodSync(tmp, 0o755);
    const captureDir = join(tmp, 'capture');
    mkdirSync(captureDir, 0o700);
    chownSync(captureDir, owner.uid, owner.gid);
    const qsub = join(tmp, 'qsub');
    writeFileSync(qsub, renderCaptureScript(captureDir, input.jobId), { mode: 0o755, flag: 'wx' });
    const configPath = join(tmp, 'config.yaml');
    writeFileSync(configPath, yaml.dump({ ...input.config, PBS_QSUB_ON_FE: qsub, PBS_QSUB_ON_NODES: qsub }), { mode: 0o644, flag: 'wx' });

    const asOwner = [input.setpriv, `--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', '--'];
    const readable = await run(asOwner[0] as string, [...asOwner.slice(1), 'test', '-r', input.cwd, '-a', '-x', input.cwd], { reject: false });
    const cwd = readable.exitCode === 0 ? input.cwd : owner.home;
    const env = { VTORQUE_CONFIG: configPath, PATH: USER_PATH, HOME: owner.home, USER: owner.name, LOGNAME: owner.name };
    const [file, ...args] = [...asOwner, ...input.vsubCommand, ...input.vsubArgs];
    const out = await runCollecting(file as string, args, { env, cwd, stdin: input.stdin });
    const argcText = out.exitCode === 0 ? readOwnedFile(join(captureDir, CAPTURE_FILES.argc), owner.uid, 64) : null;
    if (argcText === null) return { record: { ...out, qsubArgv: [] }, captured: null };
    const captured = readCapture(captureDir, owner.uid, Number(argcText.trim()));
    return { record: { ...out, qsubArgv: captured.argv }, captured };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function readCapture(dir: string, uid: number, argc: number): Captured {
  const need = (name: string, max: number): string => {
    const text = readOwnedFile(join(dir, name), uid, max);
    if (text === null) throw new VtorqueError('INTERNAL', `the capture qsub left no ${name} in ${dir}`, { fault: 'node' });
    return text;
  };
  const argvText = need(CAPTURE_FILES.argv, 1 << 20);
  const argv = argvText === '' ? [] : argvText.replace(/\n$/, '').split('\n');
  if (argv.length !== argc) {
    throw new VtorqueError('NOT_SUPPORTED', `a qsub argument contains a newline (${argc} arguments, ${argv.length} lines); run-local cannot reproduce that job`, { fault: 'job' });
  }
  const env = new Map<string, string>();
  for (const entry of need(CAPTURE_FILES.env, 1 << 20).split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return { argv, cwd: need(CAPTURE_FILES.cwd, 1 << 16).replace(/\n$/, ''), env, script: need(CAPTURE_FILES.script, MAX_SCRIPT) };
}

/**
 * Read a file the job owner wrote: never through a symlink, never a FIFO or device, only when the
 * owner owns it (root must not be tricked into copying a file the owner cannot read); null if absent.
 */
export function readOwnedFile(path: string, uid: number, maxBytes: number): string | null {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new VtorqueError('UNSAFE_PATH', `refusing the captured ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, fault: 'job' });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid) throw new VtorqueError('UNSAFE_PATH', `refusing the captured ${path}: not a regular file of uid ${uid}`, { fault: 'job' });
    if (st.size > maxBytes) throw new VtorqueError('NOT_SUPPORTED', `the captured ${path} is ${st.size} bytes, more than ${maxBytes}`, { fault: 'job' });
    return readFdFully(fd, st.size).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Like core run(), but stdin may be the invoker's own (a script on STDIN) and a failure is data. */
function runCollecting(file: string, args: readonly string[], o: { env: NodeJS.ProcessEnv; cwd: string; stdin: string | 'inherit' }): Promise<Omit<SubmitRecord, 'qsubArgv'>> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: o.env, cwd: o.cwd, stdio: [o.stdin === 'inherit' ? 'inherit' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    if (o.stdin !== 'inherit') {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(o.stdin);
    }
    let spawnError = '';
    child.on('error', (e) => {
      spawnError = `${file}: ${e.message}\n`;
    });
    child.on('close', (code, signal) => {
      resolve({
        exitCode: code ?? (signal === null ? 127 : 128),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + spawnError,
      });
    });
  });
}
