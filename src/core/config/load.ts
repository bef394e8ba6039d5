import yaml from 'js-yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError, VtorqueError } from '../errors.js';
import { appLayout } from '../install/paths.js';
import type { ConfigContext, HookLimit } from './rules.js';
import type { SiteConfig } from './schema.js';
import { defaultConfig, validateConfig } from './validate.js';

export const DEFAULT_CONFIG_PATH = '/etc/vtorque/config.yaml';

export interface LoadConfigOptions {
  /** Explicit --config FILE; wins over VTORQUE_CONFIG. */
  path?: string | undefined;
  env?: NodeJS.ProcessEnv;
  node?: ConfigContext['node'];
  /** The scheduler adapter's limit on the prologue, from the raw config's own keys. */
  hookLimit?: HookLimitOf;
}

/** How an adapter finds its scheduler's prologue limit: `peek` gives a raw config key's absolute path value. */
export type HookLimitOf = (peek: (key: string) => string | undefined) => HookLimit | undefined;

export interface LoadedConfig {
  config: SiteConfig;
  path: string;
  /** False when no file exists at the default path and built-in defaults are used. */
  fromFile: boolean;
  warnings: string[];
}

/**
 * --config FILE, else VTORQUE_CONFIG, else the config this installation was set up with
 * (`<app root>/config-path`, written by `vtorque setup --config`), else /etc/vtorque/config.yaml.
 * The installation's own record matters for the hooks, which get pbs_mom's near-empty environment.
 */
export function resolveConfigPath(options: LoadConfigOptions): { path: string; explicit: boolean } {
  const fromEnv = options.env?.VTORQUE_CONFIG;
  if (options.path) return { path: options.path, explicit: true };
  if (fromEnv) return { path: fromEnv, explicit: true };
  const installed = installedConfigPath();
  if (installed) return { path: installed, explicit: false };
  return { path: DEFAULT_CONFIG_PATH, explicit: false };
}

export const CONFIG_PATH_FILE = 'config-path';

function installedConfigPath(): string | undefined {
  try {
    const text = readFileSync(join(appLayout(import.meta.url).root, CONFIG_PATH_FILE), 'utf8').trim();
    return text.startsWith('/') && !text.includes('\n') ? text : undefined;
  } catch {
    return undefined;
  }
}

/** Read, parse and validate the site config; every problem is reported at once, one per line. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const { path, explicit } = resolveConfigPath(options);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return { config: defaultConfig(), path, fromFile: false, warnings: [] };
    throw new VtorqueError('CONFIG_INVALID', `${path}: cannot read the vTorque config (${code ?? String(err)})`, { cause: err, fault: 'node' });
  }
  return { ...parseConfigText(text, path, { ...(options.node ? { node: options.node } : {}), ...(options.hookLimit ? { hookLimit: options.hookLimit } : {}) }), path, fromFile: true };
}

export function parseConfigText(text: string, source: string, where: { node?: ConfigContext['node']; hookLimit?: HookLimitOf } = {}): { config: SiteConfig; warnings: string[] } {
  let raw: unknown;
  try {
    raw = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: source });
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new VtorqueError('CONFIG_INVALID', `${source}: not valid YAML: ${reason}`, { cause: err, fault: 'node' });
  }
  const ctx: ConfigContext = { source, ...(where.node ? { node: where.node } : {}) };
  const limit = where.hookLimit?.((key) => peekString(raw, key));
  if (limit !== undefined) ctx.hookLimit = limit;
  const result = validateConfig(raw, ctx);
  if (!result.config) throw new ValidationError('CONFIG_INVALID', result.errors, { fault: 'node' });
  return { config: result.config, warnings: result.warnings };
}

function peekString(raw: unknown, key: string): string | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const value = (raw as Record<string, unknown>)[key];
  return typeof value === 'string' && value.startsWith('/') ? value : undefined;
}
