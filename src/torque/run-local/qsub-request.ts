import { basename } from 'node:path';

import { mergeResourceLists, parseQsubArgs, scanDirectives, type ParsedQsubArgs } from '../qsub/index.js';

/**
 * What pbs_server would make of one qsub call: the captured argv plus the job script's directives,
 * read with the same qsub parser vsub uses. Pure; only the fields a single-node run needs.
 */
export interface QsubOption {
  readonly letter: string;
  readonly value: string | null;
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

/**
 * The job as the server would hold it. Command-line options win over directives (qsub applies a
 * directive only when the option was not given), -l merges per resource, -v accumulates.
 */
export function buildQsubRequest(argv: readonly string[], script: string, qsubEnv: ReadonlyMap<string, string>): QsubRequest {
  const parsed = parseQsubArgs(argv, 'qsub command line');
  const cli = optionsOf(parsed);
  const directiveOptions = scanDirectives(script, parsed.directivePrefix, 'job script').flatMap((d) => optionsOf(d.parsed));
  const all = [...directiveOptions, ...cli];
  const pick = (letter: string): string | null => lastValue(cli, letter) ?? lastValue(directiveOptions, letter);
  const resources = mergeResourceLists(all.filter((o) => o.letter === 'l').map((o) => o.value ?? ''));
  const jobName = pick('N') ?? (parsed.script === null ? 'STDIN' : basename(parsed.script));
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

function optionsOf(parsed: ParsedQsubArgs): QsubOption[] {
  return parsed.tokens.flatMap((t) => (t.kind === 'option' ? [{ letter: t.letter, value: t.value }] : []));
}

function lastValue(options: readonly QsubOption[], letter: string): string | null {
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i] as QsubOption;
    if (o.letter === letter) return o.value;
  }
  return null;
}
