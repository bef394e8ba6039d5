import { readdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CommandError, displayValue, VtorqueError } from '../core/errors.js';
import { EPILOG_MARGIN_SECONDS, PROLOG_MARGIN_SECONDS } from './hooks/exit-codes.js';
import { run } from '../core/exec/run.js';

/**
 * What `scontrol show config` (Slurm 22.05) says about the slurmd hooks, and whether that fits
 * vTorque's Slurm prolog and epilog. Parsing and checks are pure; only runShowConfig runs
 * scontrol and the glob check reads directories (through HookFs).
 */

/** The settings vTorque's hooks depend on. */
export interface SlurmHookSettings {
  readonly prolog: string | null;
  readonly epilog: string | null;
  readonly prologFlags: readonly string[];
  /** null = slurmd waits forever (unset, 65534 = NO_VAL16, or 0: run_command treats max_wait <= 0 as no limit). */
  readonly prologEpilogTimeoutSeconds: number | null;
  /** The user name of `SlurmdUser = root(0)`; '' when scontrol printed none. */
  readonly slurmdUser: string;
  readonly slurmdUid: number | null;
  /**
   * AuthInfo's cred_expire (default 120 s): how long Slurm holds a requeued job back, and how long
   * after a job's Epilog slurmd skips the Prolog for the same job id on that node (measured here).
   */
  readonly credExpireSeconds: number;
}

export interface SlurmFinding {
  readonly level: 'ok' | 'warn' | 'fail';
  readonly message: string;
}

export interface SlurmHookExpectations {
  readonly prologPath: string;
  readonly epilogPath: string;
  readonly prologueTimeoutSeconds: number;
  readonly teardownTimeoutSeconds: number;
}

/** The file system as the glob check sees it (injected in tests). */
export interface HookFs {
  /** Entry names of a directory; [] when it is missing or no directory; null when it cannot be read. */
  readdir(dir: string): readonly string[] | null;
  /** The path with every link resolved; null when it does not exist. */
  realpath(path: string): string | null;
}


const HEADER = /^Configuration data as of /;
// `%-23s = %s`: the key padded, so long keys have a single blank before '='; values may be empty.
const PAIR = /^([A-Za-z_][A-Za-z0-9_[\]]*)\s*= ?(.*)$/;

/**
 * The main block of `scontrol show config`: its `Key = value` lines after the header, up to the
 * first blank line. What follows (Cgroup Support Configuration:, MPI plugin sections,
 * `Slurmctld(primary) at vm is UP`) is left out: those sections reuse the same form.
 */
export function parseShowConfig(text: string): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || HEADER.test(line)) {
      if (map.size > 0) break;
      continue;
    }
    const m = PAIR.exec(line);
    if (!m) {
      if (map.size > 0) break;
      continue;
    }
    const key = m[1] as string;
    if (!map.has(key)) map.set(key, (m[2] ?? '').trim());
  }
  return map;
}

/** A string setting, null when unset: scontrol prints a NULL string as "(null)". */
function setting(map: ReadonlyMap<string, string>, key: string): string | null {
  const v = map.get(key);
  return v === undefined || v === '' || v === '(null)' ? null : v;
}

const UNLIMITED_WORDS = new Set(['(null)', 'none', 'unlimited', 'infinite']);

function timeoutSeconds(value: string | undefined): number | null {
  if (value === undefined || UNLIMITED_WORDS.has(value.toLowerCase())) return null;
  const m = /^(\d+)(?:\s*sec)?$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  return n === 0 || n === 65534 ? null : n;
}

export function slurmHookSettings(map: ReadonlyMap<string, string>): SlurmHookSettings {
  const flags = setting(map, 'PrologFlags');
  const user = map.get('SlurmdUser') ?? '';
  const m = /^(.*)\((\d+)\)$/.exec(user);
  return {
    prolog: setting(map, 'Prolog'),
    epilog: setting(map, 'Epilog'),
    prologFlags: flags === null ? [] : flags.split(',').map((f) => f.trim()).filter((f) => f !== ''),
    prologEpilogTimeoutSeconds: timeoutSeconds(map.get('PrologEpilogTimeout')),
    slurmdUser: m ? (m[1] as string) : user,
    slurmdUid: m ? Number(m[2]) : null,
    credExpireSeconds: credExpire(map.get('AuthInfo')),
  };
}

/** Slurm's default cred_expire (slurm.conf(5), AuthInfo). */
export const DEFAULT_CRED_EXPIRE = 120;

function credExpire(authInfo: string | undefined): number {
  const m = /(?:^|,)\s*cred_expire=(\d{1,7})\s*(?:,|$)/.exec(authInfo ?? '');
  return m ? Number(m[1]) : DEFAULT_CRED_EXPIRE;
}

/** The last line scontrol wrote on stderr, for a one-line message. */
function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines[lines.length - 1] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * `scontrol show config` with SLURM_CONF set when `slurmConf` is given (else the environment's, or
 * Slurm's default). A failure is the node's: scontrol missing, slurm.conf unreadable (scontrol then
 * retries for 60 s, hence the bound), or slurmctld not answering.
 */
export async function runShowConfig(scontrol: string, slurmConf: string, timeoutMs: number): Promise<string> {
  const env = slurmConf === '' ? process.env : { ...process.env, SLURM_CONF: slurmConf };
  try {
    return (await run(scontrol, ['show', 'config'], { env, timeoutMs })).stdout;
  } catch (err) {
    let reason: string;
    if (err instanceof CommandError) {
      const d = err.details;
      const said = lastLine(d.stderr);
      reason = d.timedOut
        ? `no answer within ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`}`
        : d.exitCode === null && d.signal === null
          ? 'cannot be started'
          : d.signal !== null
            ? `killed by ${d.signal}`
            : `exit code ${d.exitCode}`;
      if (said !== '') reason += `: ${said}`;
    } else {
      reason = lastLine(err instanceof Error ? err.message : String(err));
    }
    const conf = slurmConf === '' ? '' : ` (SLURM_CONF=${slurmConf})`;
    throw new VtorqueError('COMMAND_FAILED', `cannot read Slurm's configuration: ${scontrol} show config${conf}: ${reason}; check SLURM_SCONTROL and SLURM_CONF in the vTorque config, and that slurmctld answers`, {
      fault: 'node',
      cause: err,
    });
  }
}

export const nodeHookFs: HookFs = {
  readdir(dir) {
    try {
      return readdirSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' || code === 'ENOTDIR' ? [] : null;
    }
  },
  realpath(path) {
    try {
      return realpathSync(path);
    } catch {
      return null;
    }
  },
};

/** Whether slurmd's glob(3) would treat the path as a pattern (no GLOB_BRACE: braces are literal). */
export function isGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

/** One path segment of a glob(3) pattern as a regexp: * ? [...] [!...] and backslash escapes. */
function segmentRegExp(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i] as string;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < seg.length) re += (seg[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
      } else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  try {
    return new RegExp(`^${re}$`);
  } catch {
    // A class regexps refuse (e.g. [z-a]) matches nothing, as in glob(3).
    return /(?!)/;
  }
}

/** What slurmd's glob(3) would match, sorted; the directories that could not be read to tell. */
export function expandGlob(pattern: string, fs: HookFs): { matches: string[]; unreadable: string[] } {
  let bases = [pattern.startsWith('/') ? '/' : '.'];
  const unreadable: string[] = [];
  for (const seg of pattern.split('/').filter((s) => s !== '')) {
    if (!isGlob(seg)) {
      bases = bases.map((b) => join(b, seg.replace(/\\(.)/g, '$1')));
      continue;
    }
    const re = segmentRegExp(seg);
    const next: string[] = [];
    for (const base of bases) {
      const names = fs.readdir(base);
      if (names === null) {
        unreadable.push(base);
        continue;
      }
      // glob(3) matches a leading dot only when the pattern spells it.
      for (const name of [...names].sort()) if ((!name.startsWith('.') || seg.startsWith('.')) && re.test(name)) next.push(join(base, name));
    }
    bases = next;
  }
  return { matches: bases.filter((p) => fs.realpath(p) !== null), unreadable };
}

/** Where to link ours so the glob's last segment matches it (`*` → `vtorque`, `*.sh` → `vtorque.sh`). */
function linkName(pattern: string): string {
  const dir = dirname(pattern);
  const last = basename(pattern);
  const name = last.replace(/\*/g, 'vtorque');
  return !isGlob(name) && segmentRegExp(last).test(name) ? join(dir, name) : join(dir, `<a name ${last} matches>`);
}

function hookFindings(key: 'Prolog' | 'Epilog', value: string | null, ours: string, fs: HookFs): SlurmFinding[] {
  const what = `vTorque's ${key.toLowerCase()}`;
  const findings: SlurmFinding[] = [];
  const oursReal = fs.realpath(ours);
  if (oursReal === null) {
    findings.push({ level: 'fail', message: `${what} ${ours} does not exist: install vTorque's Slurm hooks before slurmd runs them (a missing ${key} fails every job's ${key} and drains the node)` });
  }
  const isOurs = (p: string): boolean => p === ours || (oursReal !== null && fs.realpath(p) === oursReal);
  const glob = `${key}=/etc/slurm/${key.toLowerCase()}.d/*`;
  if (value === null) {
    findings.push({ level: 'fail', message: `${key} is not set, so slurmd runs none: set ${key}=${ours} in slurm.conf, or a directory glob (${glob}) with ${what} linked into it, then scontrol reconfigure` });
    return findings;
  }
  if (!isGlob(value)) {
    if (isOurs(value)) {
      findings.push({ level: 'ok', message: `${key} ${value}: ${what}${value === ours ? '' : ` (a link to ${ours})`}` });
    } else {
      findings.push({
        level: 'fail',
        message: `${key} is ${value}, not ${what} (${ours}): set ${key}=${ours} in slurm.conf, or, to keep the site's own ${key.toLowerCase()}, a directory glob (${glob}) with both linked into it; then scontrol reconfigure`,
      });
    }
    return findings;
  }
  const link = `ln -s ${ours} ${linkName(value)}`;
  const { matches, unreadable } = expandGlob(value, fs);
  const ourMatch = matches.find(isOurs);
  if (ourMatch !== undefined) {
    findings.push({ level: 'ok', message: `${key} is the glob ${value}; it matches ${what} (${ourMatch}${ourMatch === ours ? '' : ` → ${ours}`})` });
  } else if (unreadable.length > 0) {
    findings.push({ level: 'warn', message: `${key} is the glob ${value}: the admin must link ${what} into that directory (${link}); cannot read ${unreadable.join(', ')} here to check that it is` });
  } else {
    const found = matches.length === 0 ? 'nothing (slurmd then fails every job\'s ' + key + ' and drains the node)' : matches.join(', ');
    findings.push({ level: 'fail', message: `${key} is the glob ${value}, and the admin must link ${what} into that directory: it matches ${found}, not ${what}; fix: ${link}` });
  }
  return findings;
}

/**
 * Whether slurmd, as configured, runs vTorque's hooks the way they need: as root, the Prolog at
 * allocation (before the batch script), our prolog and epilog (directly or through a glob), and
 * a PrologEpilogTimeout that does not kill them before they end themselves.
 */
export function checkSlurmSettings(settings: SlurmHookSettings, expect: SlurmHookExpectations, fs: HookFs = nodeHookFs): SlurmFinding[] {
  const findings: SlurmFinding[] = [];
  const user = settings.slurmdUid === null ? settings.slurmdUser : `${settings.slurmdUser}(${settings.slurmdUid})`;
  if (settings.slurmdUid === 0 || (settings.slurmdUid === null && settings.slurmdUser === 'root')) {
    findings.push({ level: 'ok', message: `SlurmdUser ${user}: slurmd runs the Prolog and Epilog as root` });
  } else {
    findings.push({
      level: 'fail',
      message: `SlurmdUser is ${user === '' ? 'not shown by scontrol' : displayValue(user)}, not root: slurmd runs the Prolog and Epilog as its own user, and vTorque's prolog must run as root (it starts the job's VMs); set SlurmdUser=root (the default) in slurm.conf`,
    });
  }

  const flags = settings.prologFlags.join(',');
  if (settings.prologFlags.some((f) => f.toLowerCase() === 'alloc')) {
    findings.push({ level: 'ok', message: `PrologFlags ${flags}: the Prolog runs at allocation` });
  } else {
    findings.push({
      level: 'fail',
      message: `PrologFlags ${flags === '' ? 'is empty' : `is ${flags}`}, without Alloc: slurmd then runs the Prolog at a job's first step on each node, not at allocation, so the job's VMs would not be booted before the batch script starts (on the other nodes of a multi-node job, not until an srun reaches them); set PrologFlags=Alloc in slurm.conf, then scontrol reconfigure`,
    });
  }

  findings.push(...hookFindings('Prolog', settings.prolog, expect.prologPath, fs));
  findings.push(...hookFindings('Epilog', settings.epilog, expect.epilogPath, fs));

  const p = expect.prologueTimeoutSeconds;
  const t = expect.teardownTimeoutSeconds;
  const need = Math.max(p + PROLOG_MARGIN_SECONDS, t + EPILOG_MARGIN_SECONDS);
  const timeout = settings.prologEpilogTimeoutSeconds;
  if (timeout === null) {
    findings.push({
      level: 'warn',
      message: `PrologEpilogTimeout is unlimited: a hung Prolog or Epilog would hold the node forever; vTorque's prolog ends itself at PROLOGUE_TIMEOUT (${p} s) and its epilog at TEARDOWN_TIMEOUT (${t} s), so PrologEpilogTimeout=${need} would be a safe bound for every hook`,
    });
  } else {
    let short = false;
    if (timeout < p + PROLOG_MARGIN_SECONDS) {
      short = true;
      findings.push({
        level: 'fail',
        message: `PrologEpilogTimeout ${timeout} s is below PROLOGUE_TIMEOUT ${p} s + ${PROLOG_MARGIN_SECONDS}: slurmd would SIGTERM vTorque's prolog while the job's VMs boot and drain the node; set PrologEpilogTimeout=${need} (or more) in slurm.conf`,
      });
    }
    if (timeout < t + EPILOG_MARGIN_SECONDS) {
      short = true;
      findings.push({
        level: 'fail',
        message: `PrologEpilogTimeout ${timeout} s is below TEARDOWN_TIMEOUT ${t} s + ${EPILOG_MARGIN_SECONDS}: slurmd would SIGTERM vTorque's epilog while it tears the job's VMs down and drain the node; set PrologEpilogTimeout=${need} (or more) in slurm.conf`,
      });
    }
    if (!short) {
      findings.push({ level: 'ok', message: `PrologEpilogTimeout ${timeout} s covers PROLOGUE_TIMEOUT ${p} s + ${PROLOG_MARGIN_SECONDS} and TEARDOWN_TIMEOUT ${t} s + ${EPILOG_MARGIN_SECONDS}` });
    }
  }
  return findings;
}
