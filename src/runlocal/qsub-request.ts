import { basename } from 'node:path';
import { VtorqueError } from '../core/errors.js';

/**
 * What pbs_server would make of one qsub call: the captured argv plus the job script's directives,
 * read the way Torque 6.1 qsub reads them. Pure; only the fields a single-node run needs.
 * (The vsub role has its own parser; roles do not import each other.)
 */
const QSUB_OPTSTRING = 'a:A:b:c:C:d:D:e:EfF:hi:Ij:J:k:K:l:L:m:M:nN:o:p:P:q:r:S:t:T:u:v:Vw:W:Xxz';
const TAKES_VALUE = new Set([...QSUB_OPTSTRING.matchAll(/([A-Za-z]):/g)].map((m) => m[1] as string));

export interface QsubOption {
  readonly letter: string;
  readonly value: string | null;
}

export interface ParsedArgv {
  readonly options: readonly QsubOption[];
  readonly operands: readonly string[];
}

export interface QsubRequest {
  readonly jobName: string;
  readonly queue: string;
  readonly account: string;
  /** Resource list, merged per key: directives first, the command line wins. */
  readonly resources: ReadonlyMap<string, string>;
  /** -F: the script's arguments, split later by the job's shell. */
  readonly fArgs: string | null;
  /** -v/-V variables with their values resolved against qsub's environment. */
  readonly variables: ReadonlyMap<string, string>;
  /** -d: the job's working directory (PBS_O_INITDIR). */
  readonly initDir: string | null;
  /** -w: PBS_O_WORKDIR instead of qsub's cwd. */
  readonly workDir: string | null;
  readonly interactive: boolean;
}

/** GNU getopt with permutation over qsub's option string; `--` ends options; `-` is an operand. */
export function parseQsubArgv(argv: readonly string[], where = 'qsub command line'): ParsedArgv {
  const options: QsubOption[] = [];
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-') || arg.startsWith('--')) {
      if (!arg.startsWith('--')) operands.push(arg);
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j] as string;
      if (!TAKES_VALUE.has(letter)) {
        options.push({ letter, value: null });
        continue;
      }
      let value = arg.slice(j + 1);
      if (value === '') {
        const next = argv[i + 1];
        if (next === undefined) throw new VtorqueError('USAGE', `${where}: option -${letter} requires a value`);
        value = next;
        i++;
      }
      options.push({ letter, value });
      break;
    }
  }
  return { options, operands };
}

/**
 * Directive words of a script: after `#!` and `:` lines and blank or comment lines, each line
 * starting with the prefix; the first other line ends the header. A trailing backslash continues.
 */
export function scriptDirectives(script: string, prefix: string): string[][] {
  if (prefix === '') return [];
  const lines = script.split('\n');
  const found: string[][] = [];
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).replace(/\r$/, '');
    if (line.startsWith(':') || line.startsWith('#!')) continue;
    const body = line.trimStart();
    if (body === '') continue;
    if (!body.startsWith(prefix)) {
      if (body.startsWith('#')) continue;
      break;
    }
    let text = body.slice(prefix.length);
    while (text.endsWith('\\') && n + 1 < lines.length) text = text.slice(0, -1) + (lines[++n] as string).replace(/\r$/, '');
    found.push(splitDirectiveWords(text, `job script line ${n + 1}`));
  }
  return found;
}

/** qsub's directive tokenizer: blanks split words, '…' and "…" group, backslash escapes outside quotes. */
export function splitDirectiveWords(text: string, where: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote !== null) throw new VtorqueError('USAGE', `${where}: unmatched ${quote} in a directive`);
  if (word !== null) words.push(word);
  return words;
}

/** `a=1,b=2` → entries in order; a key without `=` maps to "" (Torque keeps bare resources). */
export function parseResourceList(text: string): Map<string, string> {
  const list = new Map<string, string>();
  for (const part of text.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) list.set(p, '');
    else list.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
  }
  return list;
}

/**
 * The job as the server would hold it. Command-line options win over directives (qsub applies a
 * directive only when the option was not given), -l merges per resource, -v accumulates.
 */
export function buildQsubRequest(argv: readonly string[], script: string, qsubEnv: ReadonlyMap<string, string>): QsubRequest {
  const cli = parseQsubArgv(argv);
  const prefix = lastValue(cli.options, 'C') ?? '#PBS';
  const directiveOptions = scriptDirectives(script, prefix).flatMap((words, n) => parseQsubArgv(words, `directive ${n + 1}`).options);
  const all = [...directiveOptions, ...cli.options];
  const pick = (letter: string): string | null => lastValue(cli.options, letter) ?? lastValue(directiveOptions, letter);

  const resources = new Map<string, string>();
  for (const o of all) if (o.letter === 'l') for (const [k, v] of parseResourceList(o.value ?? '')) resources.set(k, v);

  const operand = cli.operands[cli.operands.length - 1];
  const jobName = pick('N') ?? (operand === undefined || operand === '-' ? 'STDIN' : basename(operand));
  return {
    jobName,
    queue: (pick('q') ?? '').replace(/@.*$/, '') || 'batch',
    account: pick('A') ?? '',
    resources,
    fArgs: pick('F'),
    variables: resolveVariables(all, qsubEnv),
    initDir: pick('d'),
    workDir: pick('w'),
    interactive: all.some((o) => o.letter === 'I'),
  };
}

/** -V exports qsub's whole environment; -v NAME=value sets, a bare -v NAME takes qsub's value. */
function resolveVariables(options: readonly QsubOption[], env: ReadonlyMap<string, string>): Map<string, string> {
  const vars = new Map<string, string>();
  if (options.some((o) => o.letter === 'V')) for (const [k, v] of env) vars.set(k, v);
  for (const o of options) {
    if (o.letter !== 'v' || o.value === null) continue;
    for (const item of o.value.split(',')) {
      const eq = item.indexOf('=');
      const name = (eq < 0 ? item : item.slice(0, eq)).trim();
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
      const value = eq < 0 ? env.get(name) : item.slice(eq + 1);
      if (value !== undefined) vars.set(name, value);
    }
  }
  return vars;
}

function lastValue(options: readonly QsubOption[], letter: string): string | null {
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i] as QsubOption;
    if (o.letter === letter) return o.value;
  }
  return null;
}
