import { basename, dirname } from 'node:path';
import { UnsafePathError } from '../../core/errors.js';
import { HOOK_NAMES } from '../hook-names.js';
import { isInside, look, type Action, type InstalledHooks, type ManifestLink, type ManifestRename, type ObservedState, type SchedulerHooks } from '../../core/install/hook-links.js';

import { hookFronts } from './hook-fronts.js';

const isHookName = (name: string): boolean => (HOOK_NAMES as readonly string[]).includes(name);

/** Torque's part of `vtorque setup`: the hooks linked into mom_priv. */
export const torqueHooks: SchedulerHooks = {
  hookFiles: (ctx, renderer) => hookFronts(ctx, renderer),
  planInstall: (links, state, previousRenames) => planMomPrivInstall(links, state, previousRenames),
  planUninstall: (installed, state) => planMomPrivUninstall(installed, state),
};

export interface MomPrivInstallPlan {
  actions: Action[];
  /** Every `<hook>` -> `<hook>.orig` rename an uninstall must undo: earlier installs' and this one's. */
  renames: ManifestRename[];
}

/**
 * Link each hook into mom_priv. A site hook already there moves to `<hook>.orig` (the hook front
 * runs it first), but only once: an existing `.orig` is never overwritten.
 */
export function planMomPrivInstall(links: readonly ManifestLink[], state: ObservedState, previousRenames: readonly ManifestRename[]): MomPrivInstallPlan {
  const actions: Action[] = [];
  const wanted = new Set(links.map((l) => l.path));
  const renames = previousRenames.filter((r) => wanted.has(r.from));
  for (const link of links) {
    const seen = look(state, link.path);
    if (seen.kind === 'link' && seen.target === link.target) continue;
    if (seen.kind === 'dir') throw new UnsafePathError(link.path, 'is a directory where a Torque hook script belongs', { fault: 'node' });
    if (seen.kind === 'link' && seen.target.endsWith(`/lib/vtorque/hooks/${basename(link.path)}`)) {
      // Moving another install's front to .orig would make ours run it: two fronts, one job.
      throw new UnsafePathError(link.path, `it links to another vTorque install (${seen.target}); uninstall that one first`, { fault: 'node' });
    }
    if (seen.kind !== 'missing') {
      const orig = `${link.path}.orig`;
      if (look(state, orig).kind !== 'missing') {
        throw new UnsafePathError(
          link.path,
          `it is not vTorque's link and ${basename(orig)} already exists; move one of them aside first (setup never overwrites an .orig)`,
          { fault: 'node' },
        );
      }
      actions.push({ kind: 'rename', from: link.path, to: orig });
      if (!renames.some((r) => r.from === link.path)) renames.push({ from: link.path, to: orig });
    }
    actions.push({ kind: 'link', path: link.path, target: link.target });
  }
  return { actions, renames };
}

export interface UninstallStep {
  actions: Action[];
  notes: string[];
}

/**
 * Take our links out of mom_priv and move each `.orig` back. A hook the admin replaced since is
 * left alone (and its `.orig` too), so uninstall never destroys a site's script.
 */
export function planMomPrivUninstall(m: InstalledHooks, state: ObservedState): UninstallStep {
  checkMomPrivEntries(m);
  const actions: Action[] = [];
  const notes: string[] = [];
  const free = new Set<string>();
  for (const link of m.links) {
    const seen = look(state, link.path);
    if (seen.kind === 'link' && seen.target === link.target) {
      actions.push({ kind: 'remove', path: link.path });
      free.add(link.path);
    } else if (seen.kind === 'missing') {
      free.add(link.path);
    } else {
      notes.push(`kept ${link.path}: it is no longer vTorque's link`);
    }
  }
  for (const r of m.renames) {
    if (!free.has(r.from) && look(state, r.from).kind !== 'missing') {
      notes.push(`kept ${r.to}: ${r.from} is in use; restore it by hand`);
    } else if (look(state, r.to).kind === 'missing') {
      notes.push(`cannot restore ${r.from}: ${r.to} is gone`);
    } else {
      actions.push({ kind: 'rename', from: r.to, to: r.from });
    }
  }
  return { actions, notes };
}

/** The manifest decides what root renames: only hook names inside the recorded mom_priv qualify. */
function checkMomPrivEntries(m: InstalledHooks): void {
  const inMomPriv = (p: string): boolean => m.hookDir !== null && dirname(p) === m.hookDir && isHookName(basename(p));
  for (const link of m.links) {
    if (!inMomPriv(link.path) || !isInside(m.prefix, link.target)) {
      throw new UnsafePathError(link.path, 'the install manifest lists a link that is not a vTorque hook link', { fault: 'node' });
    }
  }
  for (const r of m.renames) {
    if (!inMomPriv(r.from) || r.to !== `${r.from}.orig`) {
      throw new UnsafePathError(r.from, 'the install manifest lists a rename that is not a hook -> hook.orig rename', { fault: 'node' });
    }
  }
}
