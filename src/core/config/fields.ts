import * as v from 'valibot';
import { parseMiB, SIZE_FORM } from '../size/index.js';

/**
 * Building blocks for the site configuration table: each field knows its schema, its default and
 * the one-line description of what it accepts (used verbatim in error messages and docs).
 */
export interface Field<T> {
  readonly schema: v.GenericSchema<unknown, T>;
  readonly expected: string;
  readonly default: T;
  readonly doc: string;
}

// The original's boolean spellings (config.sh and the -vm regexes), case-insensitive.
const TRUE_WORDS = ['true', 'yes', 'enabled', 'on', 'auto'];
const FALSE_WORDS = ['false', 'no', 'disabled', 'off'];

export function parseBoolWord(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  return undefined;
}

const boolSchema = v.pipe(
  v.union([v.boolean(), v.pipe(v.string(), v.check((s) => parseBoolWord(s) !== undefined))]),
  v.transform((x) => (typeof x === 'boolean' ? x : (parseBoolWord(x) as boolean))),
);

export function bool(def: boolean, doc: string): Field<boolean> {
  return { schema: boolSchema, expected: 'true or false (also yes/no, enabled/disabled)', default: def, doc };
}

export function int(def: number, min: number, max: number, doc: string): Field<number> {
  const schema = v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.regex(/^\s*\d+\s*$/))]),
    v.transform((x) => Number(x)),
    v.integer(),
    v.minValue(min),
    v.maxValue(max),
  );
  return { schema, expected: `an integer from ${min} to ${max}`, default: def, doc };
}

export function mib(def: number, min: number, max: number, doc: string): Field<number> {
  const schema = v.pipe(
    v.union([v.pipe(v.number(), v.integer()), v.pipe(v.string(), v.check((s) => parseMiB(s) !== undefined))]),
    v.transform((x) => (typeof x === 'number' ? x : (parseMiB(x) as number))),
    v.minValue(min),
    v.maxValue(max),
  );
  return { schema, expected: `${SIZE_FORM}, from ${min} to ${max} MiB`, default: def, doc };
}

const SAFE_TEXT = /^[^\0\r\n]*$/;

export function str(def: string, doc: string, pattern?: RegExp, expected?: string): Field<string> {
  const schema = v.pipe(v.string(), v.regex(pattern ?? SAFE_TEXT));
  return { schema, expected: expected ?? 'a single-line string', default: def, doc };
}

export function absPath(def: string, doc: string, allowEmpty = false): Field<string> {
  const schema = v.pipe(v.string(), v.check((s) => (allowEmpty && s === '') || isCleanAbsolutePath(s)));
  const expected = allowEmpty
    ? 'an absolute path without ".." (or "" for none)'
    : 'an absolute path without ".."';
  return { schema, expected, default: def, doc };
}

export function isCleanAbsolutePath(s: string): boolean {
  return s.startsWith('/') && !s.split('/').includes('..') && SAFE_TEXT.test(s) && s.length < 4096;
}

export function regex(def: string, doc: string): Field<string> {
  const schema = v.pipe(
    v.string(),
    v.check((s) => {
      try {
        new RegExp(s);
        return SAFE_TEXT.test(s);
      } catch {
        return false;
      }
    }),
  );
  return { schema, expected: 'a regular expression ("" for none)', default: def, doc };
}

export function oneOf<const T extends readonly string[]>(def: T[number], values: T, doc: string): Field<T[number]> {
  const schema = v.pipe(v.string(), v.transform((s) => s.toLowerCase()), v.picklist(values));
  return { schema: schema as unknown as v.GenericSchema<unknown, T[number]>, expected: `one of ${values.join(', ')}`, default: def, doc };
}

export function list(def: readonly string[], doc: string, item: RegExp, itemDesc: string): Field<readonly string[]> {
  const schema = v.array(v.pipe(v.string(), v.regex(item)));
  return { schema, expected: `a list of ${itemDesc}`, default: def, doc };
}

/** Bounds of a QEMU_UIDS range: ids at or above 1000 (no system account), below (uid_t)-1, at most 10^6 of them. */
export const UID_RANGE_MIN = 1000;
export const UID_RANGE_MAX = 2 ** 32 - 2;
export const UID_RANGE_MAX_SIZE = 1_000_000;

/**
 * `START-END` (inclusive, decimal) → the range, or undefined unless 1000 <= START <= END <=
 * 2^32-2 and END - START < 10^6. The empty string is no range (undefined too).
 */
export function parseUidRange(text: string): { readonly start: number; readonly end: number } | undefined {
  const m = /^[ \t]*(\d{1,10})[ \t]*-[ \t]*(\d{1,10})[ \t]*$/.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (start < UID_RANGE_MIN || end < start || end > UID_RANGE_MAX || end - start >= UID_RANGE_MAX_SIZE) return undefined;
  return { start, end };
}

/** A uid range `START-END` (see parseUidRange), normalised to plain decimals, or "" for none. */
export function uidRange(def: string, doc: string): Field<string> {
  const schema = v.pipe(
    v.string(),
    v.check((s) => s === '' || parseUidRange(s) !== undefined),
    v.transform((s) => {
      const r = parseUidRange(s);
      return r ? `${r.start}-${r.end}` : '';
    }),
  );
  const expected = `a range START-END of ids with ${UID_RANGE_MIN} <= START <= END <= ${UID_RANGE_MAX} and END - START < ${UID_RANGE_MAX_SIZE} (or "" for none)`;
  return { schema, expected, default: def, doc };
}

/**
 * A command template: an argv array whose first element is an absolute program path, with
 * `{placeholders}` the caller replaces element by element (never through a shell on this side).
 */
export function argvTemplate(def: readonly string[], doc: string, placeholders: readonly string[]): Field<readonly string[]> {
  const known = new RegExp(`^(?:[^{}\\0]|\\{(?:${placeholders.join('|')})\\})*$`);
  const schema = v.pipe(
    v.array(v.pipe(v.string(), v.regex(known))),
    v.check((a) => a.length > 0 && isCleanAbsolutePath(a[0] ?? '')),
  );
  return { schema, expected: `an argv list whose first element is an absolute program path; braces only as ${placeholders.map((p) => `{${p}}`).join(', ')}`, default: def, doc };
}

/** A command for the admin's component hooks: argv array, first element an absolute program path. */
export function argv(doc: string): Field<readonly string[]> {
  const schema = v.pipe(
    v.array(v.pipe(v.string(), v.regex(/^[^\0]*$/))),
    v.check((a) => a.length === 0 || isCleanAbsolutePath(a[0] ?? '')),
  );
  return { schema, expected: 'an argv list whose first element is an absolute program path ([] for none)', default: [], doc };
}
