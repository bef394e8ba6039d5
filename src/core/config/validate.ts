import * as v from 'valibot';
import type { Issue } from '../errors.js';
import { CONFIG_RULES, type ConfigContext } from './rules.js';
import { CONFIG_FIELDS, OBSOLETE_KEYS, type ConfigKey, type SiteConfig } from './schema.js';

export interface ConfigResult {
  /** The normalised config; present only when there are no errors. */
  config: SiteConfig | null;
  errors: Issue[];
  warnings: string[];
}

const KEYS = Object.keys(CONFIG_FIELDS) as ConfigKey[];

/**
 * schema → defaults → normalise → named rules. Every problem is collected, never just the first,
 * so an admin fixes a config in one pass.
 */
export function validateConfig(raw: unknown, ctx: ConfigContext): ConfigResult {
  const errors: Issue[] = [];
  const warnings: string[] = [];
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push({ source: ctx.source, key: '(top level)', value: raw, expected: 'a YAML mapping of KEY: value' });
    return { config: null, errors, warnings };
  }
  const input = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};

  for (const key of Object.keys(input)) {
    if (key in CONFIG_FIELDS) continue;
    if (key in OBSOLETE_KEYS) {
      warnings.push(`${ctx.source}: ${key} is obsolete and ignored: ${OBSOLETE_KEYS[key]}`);
      continue;
    }
    errors.push({ source: ctx.source, key, expected: `a known key${suggest(key)}` });
  }

  for (const key of KEYS) {
    const field = CONFIG_FIELDS[key];
    if (!(key in input) || input[key] === null) {
      out[key] = field.default;
      continue;
    }
    const parsed = v.safeParse(field.schema, input[key]);
    if (parsed.success) out[key] = parsed.output;
    else errors.push({ source: ctx.source, key, value: input[key], expected: field.expected });
  }
  if (errors.length > 0) return { config: null, errors, warnings };

  const config = Object.freeze(out) as SiteConfig;
  for (const rule of CONFIG_RULES) {
    const problem = rule(config, ctx);
    if (problem) errors.push(problem);
  }
  return { config: errors.length > 0 ? null : config, errors, warnings };
}

export function defaultConfig(): SiteConfig {
  const out: Record<string, unknown> = {};
  for (const key of KEYS) out[key] = CONFIG_FIELDS[key].default;
  return Object.freeze(out) as SiteConfig;
}

function suggest(key: string): string {
  const upper = key.toUpperCase();
  const near = KEYS.filter((k) => k === upper || distance(k, upper) <= 2);
  return near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : '; see doc/admin.md for the list';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}
