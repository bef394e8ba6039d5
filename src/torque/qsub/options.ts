import { VtorqueError } from '../../core/errors.js';

/** Torque 6.1 qsub's getopt string (src/cmds/qsub_functions.c): letters with ':' take a value. */
const QSUB_OPTSTRING = 'a:A:b:c:C:d:D:e:EfF:hi:Ij:J:k:K:l:L:m:M:nN:o:p:P:q:r:S:t:T:u:v:Vw:W:Xxz';
const TAKES_VALUE = new Set<string>();
const FLAGS = new Set<string>();
for (let i = 0; i < QSUB_OPTSTRING.length; i++) {
  const letter = QSUB_OPTSTRING[i] as string;
  if (letter === ':') continue;
  (QSUB_OPTSTRING[i + 1] === ':' ? TAKES_VALUE : FLAGS).add(letter);
}

export type QsubToken =
  | { kind: 'option'; letter: string; value: string | null; raw: string[] }
  | { kind: 'vm'; value: string; raw: string[] }
  | { kind: 'long'; raw: string[] }
  | { kind: 'operand'; value: string; raw: string[] }
  | { kind: 'end'; raw: string[] };

export interface ParsedQsubArgs {
  readonly tokens: readonly QsubToken[];
  /** The first operand: the job script path; null (or "-") means the script comes from stdin. */
  readonly script: string | null;
  readonly extraOperands: readonly string[];
  readonly vmSpecs: readonly string[];
  readonly interactive: boolean;
  /** Directive prefix for the script (`-C`); "" disables directive parsing. */
  readonly directivePrefix: string;
  readonly resourceLists: readonly string[];
}

/**
 * Parse an argv the way Torque's qsub does (GNU getopt with permutation: options may follow the
 * script; clustered flags `-Vz`; attached values `-lnodes=2`; `--` ends options) plus vTorque's
 * own `-vm VALUE`, which is recognised only as that exact word.
 */
export function parseQsubArgs(argv: readonly string[], where = 'command line'): ParsedQsubArgs {
  const tokens: QsubToken[] = [];
  let i = 0;
  let endOfOptions = false;
  while (i < argv.length) {
    const arg = argv[i] as string;
    if (endOfOptions || arg === '-' || !arg.startsWith('-')) {
      tokens.push({ kind: 'operand', value: arg, raw: [arg] });
      i++;
      continue;
    }
    if (arg === '--') {
      tokens.push({ kind: 'end', raw: [arg] });
      endOfOptions = true;
      i++;
      continue;
    }
    if (arg === '-vm') {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('-')) {
        throw new VtorqueError('USAGE', `${where}: -vm needs a value like img=debian.qcow2,vcpus=2`, { exitCode: 2, fault: 'job' });
      }
      tokens.push({ kind: 'vm', value, raw: [arg, value] });
      i += 2;
      continue;
    }
    if (arg.startsWith('--')) {
      tokens.push({ kind: 'long', raw: [arg] });
      i++;
      continue;
    }
    // A cluster of single-letter options; a value-taking letter eats the rest or the next word.
    let j = 1;
    const start = i;
    const raw: string[] = [arg];
    const letters: { letter: string; value: string | null }[] = [];
    while (j < arg.length) {
      const letter = arg[j] as string;
      if (TAKES_VALUE.has(letter)) {
        let value = arg.slice(j + 1);
        if (value === '') {
          const next = argv[i + 1];
          if (next === undefined) {
            throw new VtorqueError('USAGE', `${where}: option -${letter} requires a value`, { exitCode: 2, fault: 'job' });
          }
          raw.push(next);
          value = next;
          i++;
        }
        letters.push({ letter, value });
        break;
      }
      // Flags and letters qsub does not know (qsub itself reports those) take no value.
      letters.push({ letter, value: null });
      j++;
    }
    i++;
    letters.forEach((l, n) => tokens.push({ kind: 'option', letter: l.letter, value: l.value, raw: n === 0 ? argv.slice(start, i) : [] }));
  }

  const operands = tokens.filter((t): t is Extract<QsubToken, { kind: 'operand' }> => t.kind === 'operand').map((t) => t.value);
  const options = tokens.filter((t): t is Extract<QsubToken, { kind: 'option' }> => t.kind === 'option');
  const last = (letter: string): string | null | undefined => options.filter((o) => o.letter === letter).pop()?.value;
  const interactiveW = options.some((o) => o.letter === 'W' && /(^|,)interactive=true(,|$)/i.test(o.value ?? ''));
  const script = operands[0] ?? null;
  return {
    tokens,
    script: script === '-' ? null : script,
    extraOperands: operands.slice(1),
    vmSpecs: tokens.flatMap((t) => (t.kind === 'vm' ? [t.value] : [])),
    interactive: options.some((o) => o.letter === 'I') || interactiveW,
    directivePrefix: last('C') ?? '#PBS',
    resourceLists: options.filter((o) => o.letter === 'l').map((o) => o.value ?? ''),
  };
}

/** The raw words of every option except -vm, in their original order and form. */
export function optionWords(parsed: ParsedQsubArgs): string[] {
  return parsed.tokens.flatMap((t) => (t.kind === 'option' || t.kind === 'long' ? t.raw : []));
}
