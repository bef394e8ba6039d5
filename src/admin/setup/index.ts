import { statSync } from 'node:fs';
import { join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';
import type { SchedulerHooks } from '../../core/install/hook-links.js';
import { createRenderer } from '../../core/render/index.js';
import { formatAction, type Action } from './actions.js';
import { applyAction } from './apply.js';
import { buildDesiredState } from './desired.js';
import { installLayout } from './layout.js';
import { readManifest } from './manifest.js';
import { observeAll } from './observe.js';
import { checkPreconditions, normalizeSetupPaths, type SetupOptions } from './options.js';
import { planInstall } from './plan.js';
import { checkSourceRoot, collectAppSources } from './sources.js';
import { planUninstall, uninstallPaths } from './uninstall.js';

export { checkPreconditions, resolveSetupOptions, DEFAULT_PROFILE_DIR, DEFAULT_TORQUE_HOME } from './options.js';
export type { SetupOptions, SetupOptionsInput } from './options.js';
export { BIN_NAMES, installLayout, type InstallLayout } from './layout.js';
export { shimScript, profileSnippet } from './generated.js';
export { formatAction, type Action } from './actions.js';
export { planInstall, type InstallPlan } from './plan.js';
export { planUninstall, type UninstallPlan } from './uninstall.js';
export { readManifest, parseManifest, serializeManifest, type Manifest } from './manifest.js';

/**
 * `vtorque setup`: install (or with `uninstall`, remove) vTorque under a prefix and put the
 * scheduler's hooks in place through its adapter (`hooks`: Torque's links them into mom_priv).
 * Every change is printed as one line; `dryRun` prints and changes nothing. Returns the exit code;
 * refusals throw VtorqueError.
 */
export async function runSetup(input: SetupOptions, print: (line: string) => void, hooks: SchedulerHooks): Promise<number> {
  checkPreconditions(input, process.geteuid?.() ?? -1);
  const options = normalizeSetupPaths(input);
  return options.uninstall ? uninstall(options, print, hooks) : install(options, print, hooks);
}

async function install(options: SetupOptions, print: (line: string) => void, hooks: SchedulerHooks): Promise<number> {
  checkSourceRoot(options.sourceRoot);
  if (options.momPriv !== null) requireDir(options.momPriv, '--mom-priv');
  const layout = installLayout(options.prefix);
  const sources = collectAppSources(options.sourceRoot);
  const desired = buildDesiredState(options, layout, sources, createRenderer(join(options.sourceRoot, 'templates')), hooks);
  const previous = readManifest(layout.manifestPath);
  const files = [...desired.files.map((f) => f.path), layout.manifestPath];
  const paths = [
    ...desired.dirs.map((d) => d.path),
    ...files,
    ...(previous?.files ?? []),
    ...(previous?.dirs ?? []),
    desired.config.path,
    ...desired.links.flatMap((l) => [l.path, `${l.path}.orig`]),
  ];
  const plan = planInstall(desired, observeAll(paths, new Set(files)), previous, hooks);
  plan.notes.forEach((n) => print(n));
  if (plan.actions.length === 0) {
    print(`vtorque setup: up to date (${layout.prefix})`);
    return 0;
  }
  perform(plan.actions, options.dryRun, print);
  print(
    options.dryRun
      ? `dry run: ${plan.actions.length} change(s) planned, nothing changed`
      : `vtorque setup: installed into ${layout.prefix} (${plan.actions.length} change(s))`,
  );
  return 0;
}

async function uninstall(options: SetupOptions, print: (line: string) => void, hooks: SchedulerHooks): Promise<number> {
  const layout = installLayout(options.prefix);
  const manifest = readManifest(layout.manifestPath);
  if (manifest === null) {
    throw new VtorqueError(
      'USAGE',
      `no install manifest at ${layout.manifestPath}: nothing to uninstall under ${options.prefix} (was setup run with this --prefix?)`,
      { fault: 'job' },
    );
  }
  const { paths, content } = uninstallPaths(manifest);
  const plan = planUninstall(manifest, layout, observeAll(paths, content), hooks);
  perform(plan.actions, options.dryRun, print);
  plan.notes.forEach((n) => print(n));
  print(options.dryRun ? `dry run: ${plan.actions.length} change(s) planned, nothing changed` : `vtorque setup: uninstalled from ${layout.prefix}`);
  return 0;
}

function perform(actions: readonly Action[], dryRun: boolean, print: (line: string) => void): void {
  for (const action of actions) {
    print(formatAction(action));
    if (dryRun) continue;
    const note = applyAction(action);
    if (note !== null) print(note);
  }
}

function requireDir(path: string, flag: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new VtorqueError('USAGE', `${flag} ${path} is not a directory`, { fault: 'job' });
}
