import { VtorqueError } from '../../core/errors.js';
import { parseSbatchArgs, type OwnOption, type ParsedSbatchArgs } from './options.js';

/** `#SBATCH` exactly at the start of a line; sbatch also reads `#PBS` and `#BSUB` lines unless --ignore-pbs. */
export const SBATCH_PREFIX = '#SBATCH';
export const FOREIGN_PREFIXES = ['#PBS', '#BSUB'] as const;

export interface SbatchDirective {
  /** The line as written. */
  readonly line: string;
  /** 1-based line number, for messages. */
  readonly lineNo: number;
  readonly source: string;
  /** The words, or the reason sbatch could not read them (an unmatched quote). */
  readonly words: readonly string[] | null;
  readonly problem: string | null;
  readonly parsed: ParsedSbatchArgs;
}

export interface SbatchScriptHeader {
  /** Whether line 1 starts with `#!`: sbatch refuses any other script. */
  readonly shebang: boolean;
  readonly directives: readonly SbatchDirective[];
  /** `#PBS`/`#BSUB` lines of the header (sbatch translates them unless --ignore-pbs). */
  readonly foreign: readonly { line: string; lineNo: number }[];
  /** 1-based line of the first command, where sbatch stops reading directives; null: none. */
  readonly firstCommand: number | null;
  /** Later `#SBATCH` lines naming --vm: sbatch reads no directive there. */
  readonly lateVmLines: readonly number[];
}

/**
 * The header of a batch script as sbatch 22.05 reads it (measured): line 1 is the `#!` line;
 * from line 2, a line starting exactly with `#SBATCH` (no blank before it) is a directive, its rest
 * read as options (no blank needed after the prefix); blank lines and other lines whose first
 * non-blank character is `#` (`  #SBATCH` too) go on; any other line (even `:`) ends the header.
 */
export function readSbatchHeader(script: string, source: string, own: readonly OwnOption[] = []): SbatchScriptHeader {
  const lines = script.split('\n');
  const shebang = (lines[0] ?? '').startsWith('#!');
  const directives: SbatchDirective[] = [];
  const foreign: { line: string; lineNo: number }[] = [];
  let n = 1;
  for (; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line.startsWith(SBATCH_PREFIX)) {
      let words: string[] | null = null;
      let problem: string | null = null;
      try {
        words = splitDirectiveWords(line.slice(SBATCH_PREFIX.length), `${source} line ${n + 1}`);
      } catch (err) {
        problem = (err as Error).message;
      }
      directives.push({ line, lineNo: n + 1, source, words, problem, parsed: parseSbatchArgs(words ?? [], own) });
      continue;
    }
    if (FOREIGN_PREFIXES.some((p) => line.startsWith(p))) foreign.push({ line, lineNo: n + 1 });
    const body = line.trim();
    if (body === '' || body.startsWith('#')) continue;
    break;
  }
  if (n >= lines.length) return { shebang, directives, foreign, firstCommand: null, lateVmLines: [] };
  const lateVmLines: number[] = [];
  for (let k = n + 1; k < lines.length; k++) {
    const line = lines[k] as string;
    if (line.startsWith(SBATCH_PREFIX) && /(^|[\s'"])--vm([=\s'"]|$)/.test(line)) lateVmLines.push(k + 1);
  }
  return { shebang, directives, foreign, firstCommand: n + 1, lateVmLines };
}

/**
 * A directive's words as sbatch 22.05 splits them (measured): blanks separate; '…' and "…" group
 * (and join the text next to them); a `#` outside quotes ends the directive; every backslash is
 * dropped, in quotes or not; an unmatched quote is an error.
 */
export function splitDirectiveWords(text: string, where: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '"' || c === "'") {
      const close = text.indexOf(c, i + 1);
      if (close < 0) throw new VtorqueError('USAGE', `${where}: unmatched ${c} in the #SBATCH directive (sbatch refuses it too): expected a closing ${c}`, { exitCode: 1, fault: 'job' });
      word += text.slice(i + 1, close).replace(/\\/g, '');
      inWord = true;
      i = close;
    } else if (c === '#') break;
    else if (c === '\\') inWord = true;
    else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
