import { VtorqueError } from '../../core/errors.js';
import { parseQsubArgs, type ParsedQsubArgs } from './options.js';

export interface Directive {
  /** The directive's source lines, verbatim (more than one when continued with a backslash). */
  readonly lines: readonly string[];
  /** 1-based line number of the first line, for messages. */
  readonly lineNo: number;
  /** The script's name for messages ("job.sh", "STDIN"). */
  readonly source: string;
  readonly words: readonly string[];
  readonly parsed: ParsedQsubArgs;
}

/** What qsub reads of a job script's header, and the `-vm` directive lines it then ignores. */
export interface ScriptHeader {
  readonly directives: readonly Directive[];
  /** 1-based line of the first command, where qsub stops reading directives; null: there is none. */
  readonly firstCommand: number | null;
  /** 1-based lines after the first command that are `-vm` directives: qsub ignores them, as every directive there. */
  readonly lateVmLines: readonly number[];
}

/**
 * The directives of a job script, found the way Torque's qsub finds them (get_script in
 * qsub_functions.c): after leading blanks a line starting with the prefix is a directive; `:` and
 * `#!` lines are skipped; blank and comment lines do not end the header; the first other line does.
 * A directive line ending in a backslash takes in the next line, whatever it is, as qsub does;
 * one with no next line is refused, as qsub refuses it ("unexpected end-of-file").
 */
export function readScriptHeader(script: string, prefix: string, source: string): ScriptHeader {
  if (prefix === '') return { directives: [], firstCommand: null, lateVmLines: [] };
  const lines = script.split('\n');
  const found: Directive[] = [];
  let n = 0;
  for (; n < lines.length; n++) {
    const line = (lines[n] as string).replace(/\r$/, '');
    if (line.startsWith(':') || line.startsWith('#!')) continue;
    const body = line.trimStart();
    if (body === '') continue;
    if (body.startsWith(prefix)) {
      const first = n;
      const group = [lines[n] as string];
      const pieces = [body.slice(prefix.length)];
      // qsub continues only a backslash right before a newline; a final "" after it is end of file.
      while ((pieces.at(-1) as string).endsWith('\\') && n + 1 < lines.length) {
        if (n + 2 === lines.length && lines[n + 1] === '') {
          throw new VtorqueError('USAGE', `${source} line ${n + 1}: the directive ends with \\ but no line follows to continue it (qsub refuses this too): expected the directive without the trailing \\`, { exitCode: 1, fault: 'job' });
        }
        pieces.push((pieces.pop() as string).slice(0, -1));
        n++;
        group.push(lines[n] as string);
        pieces.push((lines[n] as string).replace(/\r$/, ''));
      }
      const where = `${source} line ${first + 1}`;
      const words = splitWords(pieces.join(''), where);
      found.push({ lines: group, lineNo: first + 1, source, words, parsed: parseQsubArgs(words, where) });
      continue;
    }
    if (!body.startsWith('#')) break;
  }
  if (n >= lines.length) return { directives: found, firstCommand: null, lateVmLines: [] };
  const lateVmLines: number[] = [];
  for (let k = n + 1; k < lines.length; k++) {
    const body = (lines[k] as string).trimStart();
    if (body.startsWith(prefix) && body.includes('-vm', prefix.length) && carriesVm(body.slice(prefix.length))) lateVmLines.push(k + 1);
  }
  return { directives: found, firstCommand: n + 1, lateVmLines };
}

/** The directives of a job script (see readScriptHeader). */
export function scanDirectives(script: string, prefix: string, source: string): Directive[] {
  return [...readScriptHeader(script, prefix, source).directives];
}

/** Whether a directive's text has a -vm option; one qsub could not even tokenize counts when it names -vm. */
function carriesVm(text: string): boolean {
  try {
    return parseQsubArgs(splitWords(text, 'directive')).vmSpecs.length > 0;
  } catch {
    return /(^|\s)-vm(\s|$)/.test(text);
  }
}

const PLAIN_RUN = /[^\s'"\\]+/y;

/** qsub's directive tokenizer: blanks split words, '…' and "…" group, backslash escapes outside quotes. */
export function splitWords(text: string, where: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      if (close < 0) throw new VtorqueError('USAGE', `${where}: unmatched ${c} in directive`, { exitCode: 1, fault: 'job' });
      word += text.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
    } else {
      // A run of ordinary characters at once (a lone trailing backslash is one of them).
      PLAIN_RUN.lastIndex = i;
      const run = PLAIN_RUN.exec(text)?.[0] ?? c;
      word += run;
      inWord = true;
      i += run.length;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Quote one word for qsub's directive tokenizer (and for sh): single quotes, ' as '\''. */
export function quoteWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
