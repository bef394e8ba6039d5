import { basename } from 'node:path';
import { UnsafePathError } from '../../core/errors.js';
import type { Action } from './actions.js';
import { isInside, PROFILE_NAME, type InstallLayout } from './layout.js';
import type { Manifest } from './manifest.js';
import type { SchedulerHooks } from '../../core/install/hook-links.js';
import { look, type ObservedState } from './observe.js';
import { sha256 } from './plan.js';

export interface UninstallPlan {
  actions: Action[];
  notes: string[];
}

/**
 * Pure: undo exactly what the manifest records. mom_priv first (the site's own hooks come back
 * before anything else goes), then files, the config if untouched, the manifest, and empty dirs.
 */
export function planUninstall(m: Manifest, layout: InstallLayout, state: ObservedState, hooks: SchedulerHooks): UninstallPlan {
  checkFileEntries(m, layout);
  const mom = hooks.planUninstall({ prefix: m.prefix, hookDir: m.momPriv, links: m.links, renames: m.renames }, state);
  const actions: Action[] = [...mom.actions];
  const notes = [...mom.notes];
  for (const path of [...m.files, m.profile]) {
    const kind = look(state, path).kind;
    if (kind === 'file' || kind === 'link' || kind === 'other') actions.push({ kind: 'remove', path });
    else if (kind === 'dir') notes.push(`kept ${path}: it is a directory now, not the file setup installed`);
  }
  const config = look(state, m.config.path);
  if (config.kind !== 'missing') {
    if (!m.config.created) {
      notes.push(`kept ${m.config.path}: it was there before setup`);
    } else if (config.kind === 'file' && config.content !== null && sha256(config.content) === m.config.sha256) {
      actions.push({ kind: 'remove', path: m.config.path });
    } else {
      notes.push(`kept ${m.config.path}: it was edited after setup created it`);
    }
  }
  actions.push({ kind: 'remove', path: layout.manifestPath });
  const dirs = [...new Set(m.dirs)].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
  for (const dir of dirs) {
    if (look(state, dir).kind === 'dir') actions.push({ kind: 'rmdir', path: dir });
  }
  return { actions, notes };
}

/** Everything observed for an uninstall: which paths, and which need their bytes (the config). */
export function uninstallPaths(m: Manifest): { paths: string[]; content: Set<string> } {
  const paths = [
    ...m.links.map((l) => l.path),
    ...m.renames.flatMap((r) => [r.from, r.to]),
    ...m.files,
    m.profile,
    m.config.path,
    ...m.dirs,
  ];
  return { paths, content: new Set(m.config.created ? [m.config.path] : []) };
}

/** Root deletes what the manifest lists, so each entry must sit where setup puts such things. */
function checkFileEntries(m: Manifest, layout: InstallLayout): void {
  if (m.prefix !== layout.prefix) {
    throw new UnsafePathError(layout.manifestPath, `the install manifest belongs to prefix ${m.prefix}, not ${layout.prefix}`, { fault: 'node' });
  }
  for (const path of m.files) {
    if (!isInside(m.prefix, path) || path === m.prefix) throw new UnsafePathError(path, 'the install manifest lists a file outside the prefix', { fault: 'node' });
  }
  if (basename(m.profile) !== PROFILE_NAME) throw new UnsafePathError(m.profile, `the install manifest's profile snippet is not named ${PROFILE_NAME}`, { fault: 'node' });
}
