import { createHash } from 'node:crypto';
import { UnsafePathError } from '../../core/errors.js';
import type { Action } from './actions.js';
import type { DesiredDir, DesiredFile, DesiredState } from './desired.js';
import { isInside } from './layout.js';
import { serializeManifest, type Manifest, type ManifestConfig } from './manifest.js';
import type { SchedulerHooks } from '../../core/install/hook-links.js';
import { look, type Observed, type ObservedState } from './observe.js';

export interface InstallPlan {
  actions: Action[];
  /** What the manifest will say once the actions are done. */
  manifest: Manifest;
  notes: string[];
}

const MANIFEST_MODE = 0o444;

/**
 * Pure: compare what should exist with what does and list the changes, in an order that never
 * leaves a link pointing at a missing hook. An install that is already in place yields no action.
 */
export function planInstall(desired: DesiredState, state: ObservedState, previous: Manifest | null, hooks: SchedulerHooks): InstallPlan {
  const { layout } = desired;
  const notes = [...desired.notes];
  const dirActions: Action[] = [];
  const created: string[] = [];
  for (const dir of desired.dirs) planDir(dir, look(state, dir.path), dirActions, notes, created);

  const fileActions = desired.files.flatMap((f) => planFile(f, look(state, f.path)));

  const wantedFiles = new Set(desired.files.map((f) => f.path));
  const staleActions: Action[] = (previous?.files ?? [])
    .filter((p) => !wantedFiles.has(p) && isInside(layout.prefix, p) && ['file', 'link'].includes(look(state, p).kind))
    .map((p) => ({ kind: 'remove', path: p }));
  const ownedDirs = desired.dirs.filter((d) => d.owned).map((d) => d.path);
  const staleDirs = (previous?.dirs ?? []).filter((d) => isInside(layout.libDir, d) && !ownedDirs.includes(d));
  for (const d of [...staleDirs].sort().reverse()) staleActions.push({ kind: 'rmdir', path: d });

  const { action: configAction, record: config } = planConfig(desired.config, look(state, desired.config.path), previous);
  const mom = hooks.planInstall(desired.links, state, previous?.renames ?? []);

  const sharedKept = (previous?.dirs ?? []).filter((d) => !isInside(layout.libDir, d));
  const manifest: Manifest = {
    version: 1,
    prefix: layout.prefix,
    momPriv: desired.momPriv,
    files: desired.files.map((f) => f.path).filter((p) => p !== desired.profile),
    dirs: [...sharedKept, ...created, ...ownedDirs],
    links: desired.links,
    renames: mom.renames,
    profile: desired.profile,
    config,
  };
  const manifestFile = { path: layout.manifestPath, mode: MANIFEST_MODE, content: Buffer.from(serializeManifest(manifest)) };
  const actions = [
    ...dirActions,
    ...fileActions,
    ...staleActions,
    ...(configAction ? [configAction] : []),
    ...planFile(manifestFile, look(state, manifestFile.path)),
    ...mom.actions,
  ];
  return { actions, manifest, notes };
}

function planDir(dir: DesiredDir, seen: Observed, actions: Action[], notes: string[], created: string[]): void {
  switch (seen.kind) {
    case 'missing':
      actions.push({ kind: 'mkdir', path: dir.path, mode: dir.mode });
      created.push(dir.path);
      return;
    case 'dir':
      if (dir.owned && (seen.mode !== dir.mode || seen.uid !== 0 || seen.gid !== 0)) {
        actions.push({ kind: 'chmod', path: dir.path, mode: dir.mode });
      } else if (!dir.owned && (seen.uid !== 0 || ((seen.mode & 0o022) !== 0 && (seen.mode & 0o1000) === 0))) {
        notes.push(`warning: ${dir.path} is not root-owned or is group/other-writable; anyone who can write it can replace vTorque's files`);
      }
      return;
    case 'link':
      if (!dir.owned && seen.resolvesToDir) return;
      throw new UnsafePathError(dir.path, 'is a symlink; vTorque installs only into real directories it owns', { fault: 'node' });
    default:
      throw new UnsafePathError(dir.path, 'exists and is not a directory', { fault: 'node' });
  }
}

function planFile(file: DesiredFile, seen: Observed): Action[] {
  if (seen.kind === 'dir') throw new UnsafePathError(file.path, 'is a directory where setup installs a file', { fault: 'node' });
  const same =
    seen.kind === 'file' && seen.mode === file.mode && seen.uid === 0 && seen.gid === 0 && seen.content !== null && seen.content.equals(file.content);
  return same ? [] : [{ kind: 'install', path: file.path, mode: file.mode, content: file.content }];
}

/** The config is the admin's: written only where nothing exists, and remembered if setup wrote it. */
function planConfig(config: DesiredFile, seen: Observed, previous: Manifest | null): { action: Action | null; record: ManifestConfig } {
  if (seen.kind === 'missing') {
    return {
      action: { kind: 'install', path: config.path, mode: config.mode, content: config.content },
      record: { path: config.path, created: true, sha256: sha256(config.content) },
    };
  }
  const before = previous?.config;
  if (before && before.path === config.path && before.created) return { action: null, record: before };
  return { action: null, record: { path: config.path, created: false, sha256: null } };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
