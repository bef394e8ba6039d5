/**
 * What `vtorque setup` and a scheduler adapter share: the changes setup makes (planned as data,
 * performed by admin/setup/apply.ts), the file system as setup observed it, and the link/rename
 * records of its manifest. A scheduler adapter plans where its hooks go (Torque: links in
 * mom_priv, a site's own hook kept as `.orig`) against these, so setup itself knows no scheduler.
 */
import type { Renderer } from '../render/index.js';

/** One change to the file system; the planners return lists of these, apply.ts performs them. */
export type Action =
  /** Create a directory owned by root:root with this mode (its parent exists by then). */
  | { kind: 'mkdir'; path: string; mode: number }
  /** Make an existing directory root:root with this mode. */
  | { kind: 'chmod'; path: string; mode: number }
  /** Write a root:root file atomically (temp name + rename), replacing whatever non-directory is there. */
  | { kind: 'install'; path: string; mode: number; content: Buffer }
  /** Rename in place, keeping bytes, mode and owner. */
  | { kind: 'rename'; from: string; to: string }
  /** Point `path` at `target`, atomically replacing a symlink already there. */
  | { kind: 'link'; path: string; target: string }
  /** Unlink a file or symlink (never its target, never a directory). */
  | { kind: 'remove'; path: string }
  /** Remove a directory if it is empty by then; otherwise keep it and say so. */
  | { kind: 'rmdir'; path: string };

/** What is at one path right now, seen without following a final symlink. */
export type Observed =
  | { kind: 'missing' }
  | { kind: 'file'; mode: number; uid: number; gid: number; content: Buffer | null }
  | { kind: 'dir'; mode: number; uid: number; gid: number }
  | { kind: 'link'; target: string; resolvesToDir: boolean }
  | { kind: 'other' };

export type ObservedState = ReadonlyMap<string, Observed>;

const MISSING: Observed = { kind: 'missing' };

/** Look a path up in an observed state; anything not observed counts as missing. */
export function look(state: ObservedState, path: string): Observed {
  return state.get(path) ?? MISSING;
}

export interface ManifestLink {
  path: string;
  target: string;
}

export interface ManifestRename {
  from: string;
  to: string;
}

/** True when `child` is `parent` itself or lies below it (both absolute and normalized). */
export function isInside(parent: string, child: string): boolean {
  if (child === parent) return true;
  return child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
}

/** What an install recorded of a scheduler's hooks: where they went and what was moved aside. */
export interface InstalledHooks {
  readonly prefix: string;
  /** The scheduler's hook directory (Torque: mom_priv), or null when setup linked none. */
  readonly hookDir: string | null;
  readonly links: readonly ManifestLink[];
  readonly renames: readonly ManifestRename[];
}

/** What a scheduler's hook scripts are rendered with. */
export interface HookInstallContext {
  /** Where the scheduler looks for its hooks (Torque: mom_priv), whether or not setup links them there. */
  readonly hookDir: string;
  /** The scheduler's own home (Torque: TORQUE_HOME, whose mom_priv/jobs holds root's job scripts). */
  readonly schedulerHome: string;
  /** Absolute node binary and the root hook bundle a VM job's hook runs. */
  readonly nodePath: string;
  readonly hookBundle: string;
  /** The site's SPOOL_DIR (root's records, state and cancel directories). */
  readonly spoolDir: string;
  /** The install's own hooks directory, where the hook files end up (lib/vtorque/hooks). */
  readonly installHooksDir: string;
  /** The site's PROLOGUE_TIMEOUT and TEARDOWN_TIMEOUT in seconds, for a scheduler's own hook timeout. */
  readonly timeouts: { readonly prologue: number; readonly teardown: number };
}

/** One hook script setup installs in the app's hooks directory (and links into the hook directory). */
export interface HookFile {
  readonly name: string;
  readonly mode: number;
  readonly content: Buffer;
}

/** A scheduler adapter's part of setup: its hook scripts, putting them in place and taking them out again. */
export interface SchedulerHooks {
  /** The hook scripts, rendered from the install's root-owned templates. */
  hookFiles(ctx: HookInstallContext, renderer: Renderer): HookFile[];
  /**
   * The actions that make `links` true, with every rename an uninstall must undo (earlier
   * installs' and this one's). Refuses (throws) rather than overwrite a site's file.
   */
  planInstall(links: readonly ManifestLink[], state: ObservedState, previousRenames: readonly ManifestRename[]): { actions: Action[]; renames: ManifestRename[] };
  /** Undo exactly what `installed` records, keeping whatever the admin changed since (said in notes). */
  planUninstall(installed: InstalledHooks, state: ObservedState): { actions: Action[]; notes: string[] };
  /** Commands the scheduler's users need on PATH besides vTorque's own (Slurm: vsbatch). */
  readonly commands?: readonly string[];
  /** What the admin must still do by hand after an install (printed), e.g. the line to add to the scheduler's config. */
  installNotes?(ctx: HookInstallContext): string[];
}
