import { dirname, join } from 'node:path';
import { CONFIG_FIELDS } from '../../core/config/index.js';
import type { Renderer } from '../../core/render/index.js';
import { DEFAULT_TORQUE_HOME } from './options.js';
import type { SchedulerHooks } from '../../core/install/hook-links.js';
import { APP_PACKAGE_JSON, DEFAULT_CONFIG_TEXT, profileSnippet, shimScript } from './generated.js';
import { ancestorsOf, BIN_NAMES, PROFILE_NAME, type InstallLayout } from './layout.js';
import type { SetupOptions } from './options.js';
import type { SourceTree } from './sources.js';

export interface DesiredDir {
  path: string;
  mode: number;
  /** At or below lib/vtorque: always vTorque's, so its mode and owner are enforced. */
  owned: boolean;
}

export interface DesiredFile {
  path: string;
  mode: number;
  content: Buffer;
}

/** The whole install as data: what should exist once setup is done. */
export interface DesiredState {
  layout: InstallLayout;
  momPriv: string | null;
  /** Parents before children. Shared dirs (prefix, bin, profile.d, …) are only created when missing. */
  dirs: DesiredDir[];
  files: DesiredFile[];
  profile: string;
  /** Written only when no file exists at its path. */
  config: DesiredFile;
  /** mom_priv/<hook> -> lib/vtorque/hooks/<hook>, in the adapter's hook order. */
  links: { path: string; target: string }[];
  notes: string[];
}

/** The config schema's defaults, for callers that pass no site config. */
const DEFAULT_HOOK_TIMEOUTS = { prologue: CONFIG_FIELDS.PROLOGUE_TIMEOUT.default, teardown: CONFIG_FIELDS.TEARDOWN_TIMEOUT.default };

const OWNED_DIR = 0o555;
const SHARED_DIR = 0o755;
const DATA_FILE = 0o444;
const CONFIG_FILE = 0o644;

export function buildDesiredState(options: SetupOptions, layout: InstallLayout, sources: SourceTree, renderer: Renderer, hooks: SchedulerHooks): DesiredState {
  const files: DesiredFile[] = sources.files.map((f) => ({ path: join(layout.libDir, f.rel), mode: f.mode, content: f.content }));
  files.push({ path: join(layout.libDir, 'package.json'), mode: DATA_FILE, content: Buffer.from(APP_PACKAGE_JSON) });
  // Which config this installation uses, for entry points that get no say in their environment (the hooks).
  files.push({ path: join(layout.libDir, 'config-path'), mode: DATA_FILE, content: Buffer.from(`${options.configPath}\n`) });
  // The scheduler's hook scripts, from its adapter (Torque: one sh front per mom_priv hook).
  const hookCtx = {
    hookDir: options.momPriv ?? join(options.torqueHome, 'mom_priv'),
    schedulerHome: options.torqueHome,
    nodePath: options.nodePath,
    hookBundle: layout.hookBundle,
    spoolDir: options.spoolDir ?? '/var/spool/vtorque',
    installHooksDir: layout.hooksDir,
    timeouts: options.timeouts ?? DEFAULT_HOOK_TIMEOUTS,
  };
  const hookFiles = hooks.hookFiles(hookCtx, renderer);
  for (const hook of hookFiles) files.push({ path: join(layout.hooksDir, hook.name), mode: hook.mode, content: hook.content });
  const commands = [...BIN_NAMES, ...(hooks.commands ?? []).filter((n) => !(BIN_NAMES as readonly string[]).includes(n))];
  for (const name of commands) {
    const bundle = join(layout.distDir, `${name}.mjs`);
    files.push({ path: join(layout.binDir, name), mode: 0o555, content: Buffer.from(shimScript(options.nodePath, bundle)) });
  }
  const profile = join(options.profileDir, PROFILE_NAME);
  files.push({ path: profile, mode: DATA_FILE, content: Buffer.from(profileSnippet(layout.binDir)) });

  const notes = [...sources.notes, ...(hooks.installNotes?.(hookCtx) ?? [])];
  const bundles = new Set(sources.files.map((f) => f.rel));
  for (const name of commands) {
    if (!bundles.has(`dist/${name}.mjs`)) notes.push(`warning: ${options.sourceRoot}/dist/${name}.mjs is missing; ${layout.binDir}/${name} will fail until it is built`);
  }
  return {
    layout,
    momPriv: options.momPriv,
    dirs: desiredDirs(options, layout, sources),
    files,
    profile,
    config: { path: options.configPath, mode: CONFIG_FILE, content: initialConfig(sources.exampleConfig ?? Buffer.from(DEFAULT_CONFIG_TEXT), options.torqueHome) },
    links: options.momPriv === null ? [] : hookFiles.map((h) => ({ path: join(options.momPriv as string, h.name), target: join(layout.hooksDir, h.name) })),
    notes,
  };
}

function desiredDirs(options: SetupOptions, layout: InstallLayout, sources: SourceTree): DesiredDir[] {
  const owned = [layout.libDir, layout.hooksDir, layout.distDir, ...sources.dirs.map((d) => join(layout.libDir, d))];
  const shared = [layout.prefix, layout.binDir, options.profileDir, dirname(options.configPath)];
  const all = new Map<string, DesiredDir>();
  for (const dir of [...shared, ...owned]) {
    for (const up of [...ancestorsOf(dir), dir]) {
      if (!all.has(up)) all.set(up, { path: up, mode: SHARED_DIR, owned: false });
    }
  }
  for (const dir of owned) all.set(dir, { path: dir, mode: OWNED_DIR, owned: true });
  return [...all.values()].sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path));
}

function depth(path: string): number {
  return path === '/' ? 0 : path.split('/').length - 1;
}


/**
 * The config written when there is none: the example, plus the Torque home setup was given when it
 * is not the default, so the hooks read this pbs_mom's jobs and $prologalarm from the start.
 */
function initialConfig(text: Buffer, torqueHome: string): Buffer {
  if (torqueHome === DEFAULT_TORQUE_HOME) return text;
  return Buffer.concat([text, Buffer.from(`\n# Set by vtorque setup from --mom-priv / --torque-home:\nTORQUE_HOME: ${JSON.stringify(torqueHome)}\n`)]);
}
