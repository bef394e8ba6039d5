import yaml from 'js-yaml';
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_FIELDS, OBSOLETE_KEYS, type ConfigKey } from '../../core/config/index.js';

/**
 * The configuration reference in doc/admin.md, generated from the schema table (as
 * contrib/config.yaml is) so the guide cannot drift from the code: every key in schema order,
 * grouped by the `// --- group` comments of src/core/config/schema.ts, then the obsolete keys.
 * `npm run gen:doc` rewrites the span between the two markers; a test keeps them equal.
 */
export const CONFIG_REFERENCE_BEGIN = '<!-- config-reference:begin -->';
export const CONFIG_REFERENCE_END = '<!-- config-reference:end -->';

const SCHEMA_SOURCE = new URL('../../core/config/schema.ts', import.meta.url);

export interface ConfigGroup {
  /** The comment's text up to its first " (", e.g. "timeouts". */
  readonly title: string;
  /** The comment's parenthesised remainder, e.g. "seconds"; "" when there is none. */
  readonly note: string;
  readonly keys: readonly ConfigKey[];
}

/**
 * The groups of CONFIG_FIELDS as the schema source writes them: each `// --- title (note)`
 * comment opens a group that holds the keys after it (keys before the first comment form a group
 * "general"). Keys are read only at the indentation of the table's own entries, and the result must
 * list exactly Object.keys(CONFIG_FIELDS) in their order, or this throws: a group is never guessed.
 */
export function configGroups(schemaSource: string): ConfigGroup[] {
  const lines = schemaSource.split('\n');
  const start = lines.findIndex((l) => /^export const CONFIG_FIELDS = \{\s*$/.test(l));
  if (start < 0) throw new Error('schema source: no `export const CONFIG_FIELDS = {` line');
  const end = lines.findIndex((l, i) => i > start && /^\}/.test(l));
  if (end < 0) throw new Error('schema source: CONFIG_FIELDS is not closed');

  const groups: { title: string; note: string; keys: ConfigKey[] }[] = [];
  let indent: string | undefined;
  for (const line of lines.slice(start + 1, end)) {
    const comment = /^(\s+)\/\/ --- (.+?)\s*$/.exec(line);
    if (comment && (indent === undefined || comment[1] === indent)) {
      const text = comment[2] as string;
      const open = text.indexOf(' (');
      const hasNote = open > 0 && text.endsWith(')');
      groups.push({ title: hasNote ? text.slice(0, open) : text, note: hasNote ? text.slice(open + 2, -1) : '', keys: [] });
      continue;
    }
    const entry = /^(\s+)([A-Z][A-Z0-9_]*)\s*:/.exec(line);
    if (!entry) continue;
    indent ??= entry[1];
    if (entry[1] !== indent) continue;
    if (groups.length === 0) groups.push({ title: 'general', note: '', keys: [] });
    (groups[groups.length - 1] as { keys: ConfigKey[] }).keys.push(entry[2] as ConfigKey);
  }

  const found = groups.flatMap((g) => g.keys);
  const expected = Object.keys(CONFIG_FIELDS);
  if (found.join('\n') !== expected.join('\n')) {
    const missing = expected.filter((k) => !found.includes(k as ConfigKey));
    const extra = found.filter((k) => !expected.includes(k));
    throw new Error(
      `schema source: the keys read from CONFIG_FIELDS's source differ from CONFIG_FIELDS (missing: ${missing.join(', ') || 'none'}; not keys: ${extra.join(', ') || 'none'}${missing.length + extra.length === 0 ? '; order differs' : ''})`,
    );
  }
  return groups.filter((g) => g.keys.length > 0);
}

/** The Markdown section between the markers (without them), from the schema as it is now. */
export function renderConfigReference(schemaSource: string = readFileSync(SCHEMA_SOURCE, 'utf8')): string {
  const out: string[] = [
    '### Reference: every key',
    '',
    'Generated from the schema (src/core/config/schema.ts) by `npm run gen:doc`; do not edit by hand.',
    'Each key shows its built-in default as YAML writes it, the form it accepts (the text',
    '`vtorque config check` prints when a value does not fit) and what it does.',
  ];
  for (const group of configGroups(schemaSource)) {
    out.push('', `#### ${capitalise(group.title)}`, '');
    if (group.note !== '') out.push(sentence(capitalise(inline(group.note))), '');
    for (const key of group.keys) {
      const field = CONFIG_FIELDS[key];
      out.push(`* ${code(key)} (default ${code(yamlValue(key, field.default))}): ${sentence(inline(field.doc))}`);
      out.push(`  Accepts ${sentence(inline(field.expected))}`);
    }
  }
  out.push(
    '',
    '#### Obsolete keys',
    '',
    "Keys of the original that this design no longer needs: accepted with a warning (`KEY is obsolete and ignored: …`), then ignored.",
    '',
    '| key | instead |',
    '|---|---|',
  );
  for (const [key, instead] of Object.entries(OBSOLETE_KEYS)) out.push(`| ${code(key)} | ${inline(instead).replace(/\|/g, '\\|')} |`);
  return `${out.join('\n')}\n`;
}

/** `doc` with the span between the markers replaced by `rendered`; throws unless each marker occurs once, in order. */
export function spliceConfigReference(doc: string, rendered: string): string {
  const span = findSpan(doc);
  return `${doc.slice(0, span.from)}\n${rendered}${doc.slice(span.to)}`;
}

/** The text now between the markers, as renderConfigReference() would have written it. */
export function currentConfigReference(doc: string): string {
  const span = findSpan(doc);
  return doc.slice(span.from, span.to).replace(/^\n/, '');
}

/** `npm run gen:doc`: rewrite only the marked span of the guide (relative to the working directory). */
export function writeConfigReference(path = 'doc/admin.md'): void {
  const doc = readFileSync(path, 'utf8');
  const next = spliceConfigReference(doc, renderConfigReference());
  if (next !== doc) writeFileSync(path, next);
}

function findSpan(doc: string): { from: number; to: number } {
  const count = (marker: string): number => doc.split(marker).length - 1;
  for (const marker of [CONFIG_REFERENCE_BEGIN, CONFIG_REFERENCE_END]) {
    if (count(marker) !== 1) throw new Error(`expected exactly one ${marker} line, found ${count(marker)}`);
  }
  const from = doc.indexOf(CONFIG_REFERENCE_BEGIN) + CONFIG_REFERENCE_BEGIN.length;
  const to = doc.indexOf(CONFIG_REFERENCE_END);
  if (to < from) throw new Error(`${CONFIG_REFERENCE_END} comes before ${CONFIG_REFERENCE_BEGIN}`);
  return { from, to };
}

/** The default exactly as contrib/config.yaml shows it (flow style, one line). */
function yamlValue(key: string, value: unknown): string {
  const dumped = yaml.dump({ [key]: value }, { lineWidth: -1, flowLevel: 1 }).trimEnd();
  return dumped.slice(`${key}: `.length);
}

/** A code span that holds any text (a fence longer than its longest run of backticks). */
function code(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/**
 * Schema text as Markdown: its `code spans` stay, elsewhere the characters that could start
 * emphasis, an HTML tag or an escape are escaped (an underscore inside a word, as in SPOOL_DIR, and
 * a `<` before a blank, as in `<=`, are safe as they are).
 */
function inline(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/[\\*]|<(?=[A-Za-z/!?])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, (c) => `\\${c}`)))
    .join('');
}

/** The text ending with a full stop (unless it ends with one already). */
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
