import { VtorqueError } from '../errors.js';
import { parseQsubArgs, type ParsedQsubArgs } from './options.js';

export interface Directive {
  /** The directive's source lines, verbatim (more than one when continued with a backslash). */
  readonly lines: readonly string[];
  /** 1-based line number of the first line, for messages. */
  readonly lineNo: number;
  readonly words: readonly string[];
  readonly parsed: ParsedQsubArgs;
}

/**
 * The directives of a job script, found the way Torque's qsub finds them: after leading blanks a
 * line starting with the prefix is a directive; `:` and `#!` lines are skipped; blank and comment
 * lines do not end the header; the first other line does. A trailing backslash continues a line.
 */
export function scanDirectives(script: string, prefix: string, source: string): Directive[] {
  if (prefix === '') return [];
  const lines = script.split('\n');
  const found: Directive[] = [];
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).replace(/\r$/, '');
    if (line.startsWith(':') || line.startsWith('#!')) continue;
    const body = line.trimStart();
    if (body === '') continue;
    if (body.startsWith(prefix)) {
      const group = [lines[n] as string];
      let text = body.slice(prefix.length);
      while (text.endsWith('\\') && n + 1 < lines.length) {
        n++;
        group.push(lines[n] as string);
        text = text.slice(0, -1) + (lines[n] as string).replace(/\r$/, '');
      }
      const where = `${source} line ${n + 2 - group.length}`;
      const words = splitWords(text, where);
      found.push({ lines: group, lineNo: n + 2 - group.length, words, parsed: parseQsubArgs(words, where) });
      continue;
    }
    if (!body.startsWith('#')) break;
  }
  return found;
}

/** qsub's directive tokenizer: blanks split words, '…' and "…" group, backslash escapes outside quotes. */
export function splitWords(text: string, where: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = null;
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new VtorqueError('USAGE', `${where}: unmatched ${quote} in directive`, { exitCode: 1 });
  if (inWord) words.push(word);
  return words;
}

/** Quote one word for qsub's directive tokenizer (and for sh): single quotes, ' as '\''. */
export function quoteWord(word: string): string {
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
