/**
 * sbatch 22.05's command line as data: every option of its manual page and `--help`, with its
 * short letter and whether it takes a value (measured against Debian's slurm-client 22.05.8:
 * `--opt=x` refused = none; `--opt WORD` leaving WORD as the script = optional). sbatch parses
 * with getopt_long in "stop at the first operand" mode: options come before the script, every
 * word after the script is an argument of the script; a long option may be shortened to any
 * unambiguous prefix; a value is `--opt=value` or `--opt value` (optional values only attached:
 * `--nice=5`, `-k1`); short letters cluster (`-vN2`); `:` separates the components of a
 * heterogeneous job; `--` ends the options.
 */
export type ArgKind = 'none' | 'required' | 'optional';

export interface SbatchOption {
  readonly long: string;
  readonly short?: string;
  readonly arg: ArgKind;
}

const R = 'required';
const N = 'none';
const O = 'optional';
const opt = (long: string, arg: ArgKind, short?: string): SbatchOption => (short === undefined ? { long, arg } : { long, arg, short });

export const SBATCH_OPTIONS: readonly SbatchOption[] = [
  opt('account', R, 'A'), opt('acctg-freq', R), opt('array', R, 'a'), opt('batch', R), opt('bb', R), opt('bbf', R),
  opt('begin', R, 'b'), opt('chdir', R, 'D'), opt('cluster-constraint', R), opt('clusters', R, 'M'), opt('comment', R),
  opt('constraint', R, 'C'), opt('container', R), opt('contiguous', N), opt('core-spec', R, 'S'), opt('cores-per-socket', R),
  opt('cpu-freq', R), opt('cpus-per-gpu', R), opt('cpus-per-task', R, 'c'), opt('deadline', R), opt('delay-boot', R),
  opt('dependency', R, 'd'), opt('distribution', R, 'm'), opt('error', R, 'e'), opt('exclude', R, 'x'), opt('exclusive', O),
  opt('export', R), opt('export-file', R), opt('extra-node-info', R, 'B'), opt('get-user-env', O), opt('gid', R),
  opt('gpu-bind', R), opt('gpu-freq', R), opt('gpus', R, 'G'), opt('gpus-per-node', R), opt('gpus-per-socket', R),
  opt('gpus-per-task', R), opt('gres', R), opt('gres-flags', R), opt('help', N, 'h'), opt('hint', R), opt('hold', N, 'H'),
  opt('ignore-pbs', N), opt('input', R, 'i'), opt('job-name', R, 'J'), opt('kill-on-invalid-dep', R), opt('licenses', R, 'L'),
  opt('mail-type', R), opt('mail-user', R), opt('mcs-label', R), opt('mem', R), opt('mem-bind', R), opt('mem-per-cpu', R),
  opt('mem-per-gpu', R), opt('mincpus', R), opt('network', R), opt('nice', O), opt('no-kill', O, 'k'), opt('no-requeue', N),
  opt('nodefile', R, 'F'), opt('nodelist', R, 'w'), opt('nodes', R, 'N'), opt('ntasks', R, 'n'), opt('ntasks-per-core', R),
  opt('ntasks-per-gpu', R), opt('ntasks-per-node', R), opt('ntasks-per-socket', R), opt('open-mode', R), opt('output', R, 'o'),
  opt('overcommit', N, 'O'), opt('oversubscribe', N, 's'), opt('parsable', N), opt('partition', R, 'p'), opt('power', R),
  opt('prefer', R), opt('priority', R), opt('profile', R), opt('propagate', O), opt('qos', R, 'q'), opt('quiet', N, 'Q'),
  opt('reboot', N), opt('requeue', N), opt('reservation', R), opt('signal', R), opt('sockets-per-node', R), opt('spread-job', N),
  opt('switches', R), opt('test-only', N), opt('thread-spec', R), opt('threads-per-core', R), opt('time', R, 't'),
  opt('time-min', R), opt('tmp', R), opt('uid', R), opt('usage', N), opt('use-min-nodes', N), opt('verbose', N, 'v'),
  opt('version', N, 'V'), opt('wait', N, 'W'), opt('wait-all-nodes', R), opt('wckey', R), opt('wrap', R),
];

const BY_LONG = new Map(SBATCH_OPTIONS.map((o) => [o.long, o]));
const BY_SHORT = new Map(SBATCH_OPTIONS.flatMap((o) => (o.short === undefined ? [] : [[o.short, o] as const])));

/** A long option word as getopt_long resolves it: the exact name, else the one option it is a prefix of. */
export function resolveLong(name: string): SbatchOption | 'ambiguous' | undefined {
  const exact = BY_LONG.get(name);
  if (exact) return exact;
  const matches = SBATCH_OPTIONS.filter((o) => o.long.startsWith(name));
  if (matches.length === 0 || name === '') return undefined;
  return matches.length === 1 ? matches[0] : 'ambiguous';
}

export type SbatchToken =
  /** An sbatch option; `name` is its long name; `value` null when it took none; `missing` when a value was due but the argv ended. */
  | { kind: 'option'; name: string; value: string | null; raw: string[]; missing?: true }
  /** One of the caller's own exact long options (vsbatch's `--vm`, `--dry-run`, ...), never shortened. */
  | { kind: 'own'; name: string; value: string | null; raw: string[] }
  /** A word sbatch itself will refuse (unknown, ambiguous, a value given to a flag): passed on as it is. */
  | { kind: 'unknown'; raw: string[] }
  /** `:` between the components of a heterogeneous job. */
  | { kind: 'hetjob'; raw: string[] }
  | { kind: 'end'; raw: string[] };

/** A caller's own long option: exact word only; `value` says whether it takes one. */
export interface OwnOption {
  readonly long: string;
  readonly value: boolean;
}

export interface ParsedSbatchArgs {
  readonly tokens: readonly SbatchToken[];
  /** The script operand (first word that is not an option), or null: STDIN or `--wrap`. */
  readonly script: string | null;
  /** The words after the script: its arguments, whatever they look like. */
  readonly scriptArgs: readonly string[];
}

/**
 * Read an argv (or a directive's words) as sbatch does. Never throws: whatever sbatch would refuse
 * is kept as a token for sbatch to refuse, so a plain submission reaches sbatch unchanged.
 */
export function parseSbatchArgs(argv: readonly string[], own: readonly OwnOption[] = []): ParsedSbatchArgs {
  const tokens: SbatchToken[] = [];
  const ownByName = new Map(own.map((o) => [o.long, o]));
  let i = 0;
  let afterEnd = false;
  while (i < argv.length) {
    const arg = argv[i] as string;
    if (afterEnd || arg === '-' || !arg.startsWith('-')) {
      if (!afterEnd && arg === ':') {
        tokens.push({ kind: 'hetjob', raw: [arg] });
        i++;
        continue;
      }
      return { tokens, script: arg, scriptArgs: argv.slice(i + 1) };
    }
    if (arg === '--') {
      tokens.push({ kind: 'end', raw: [arg] });
      afterEnd = true;
      i++;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const attached = eq < 0 ? null : arg.slice(eq + 1);
      const mine = ownByName.get(name);
      if (mine) {
        if (!mine.value) tokens.push(attached === null ? { kind: 'own', name, value: null, raw: [arg] } : { kind: 'unknown', raw: [arg] });
        else if (attached !== null) tokens.push({ kind: 'own', name, value: attached, raw: [arg] });
        else if (i + 1 < argv.length) tokens.push({ kind: 'own', name, value: argv[++i] as string, raw: [arg, argv[i] as string] });
        else tokens.push({ kind: 'own', name, value: null, raw: [arg] });
        i++;
        continue;
      }
      const o = resolveLong(name);
      if (o === undefined || o === 'ambiguous' || (o.arg === 'none' && attached !== null)) tokens.push({ kind: 'unknown', raw: [arg] });
      else if (o.arg !== 'required' || attached !== null) tokens.push({ kind: 'option', name: o.long, value: attached, raw: [arg] });
      else if (i + 1 < argv.length) tokens.push({ kind: 'option', name: o.long, value: argv[++i] as string, raw: [arg, argv[i] as string] });
      else tokens.push({ kind: 'option', name: o.long, value: null, raw: [arg], missing: true });
      i++;
      continue;
    }
    // A cluster of short letters: a letter taking a value takes the rest of the word (or, when
    // required and the word ends, the next word); a letter sbatch does not know ends nothing.
    const start = i;
    const found: { name: string | null; value: string | null; missing?: true }[] = [];
    for (let j = 1; j < arg.length; j++) {
      const o = BY_SHORT.get(arg[j] as string);
      if (o === undefined) {
        found.push({ name: null, value: null });
        continue;
      }
      if (o.arg === 'none') {
        found.push({ name: o.long, value: null });
        continue;
      }
      const rest = arg.slice(j + 1);
      if (rest !== '' || o.arg === 'optional') found.push({ name: o.long, value: rest === '' ? null : rest });
      else if (i + 1 < argv.length) found.push({ name: o.long, value: argv[++i] as string });
      else found.push({ name: o.long, value: null, missing: true });
      break;
    }
    i++;
    const raw = argv.slice(start, i);
    if (found.some((f) => f.name === null)) tokens.push({ kind: 'unknown', raw });
    else {
      found.forEach((f, n) => {
        const token: SbatchToken = { kind: 'option', name: f.name as string, value: f.value, raw: n === 0 ? raw : [] };
        tokens.push(f.missing ? { ...token, missing: true } : token);
      });
    }
  }
  return { tokens, script: null, scriptArgs: [] };
}

/** The last value of an option among tokens (`--mem` given twice: the later one), or undefined. */
export function lastValue(tokens: readonly SbatchToken[], name: string): string | null | undefined {
  let found: string | null | undefined;
  for (const t of tokens) if (t.kind === 'option' && t.name === name) found = t.value;
  return found;
}

/** Whether an option is given (with or without a value). */
export function hasOption(tokens: readonly SbatchToken[], name: string): boolean {
  return tokens.some((t) => t.kind === 'option' && t.name === name);
}

/** The raw words of every token except the caller's own options, in order and form. */
export function sbatchWords(tokens: readonly SbatchToken[]): string[] {
  return tokens.flatMap((t) => (t.kind === 'own' ? [] : t.raw));
}
