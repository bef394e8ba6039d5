import { shortTarget } from './layout.js';

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

export function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** One line per action, the same in a dry run and a real one. */
export function formatAction(action: Action): string {
  switch (action.kind) {
    case 'mkdir':
      return `mkdir ${formatMode(action.mode)} ${action.path}`;
    case 'chmod':
      return `chmod ${formatMode(action.mode)} ${action.path}`;
    case 'install':
      return `install ${formatMode(action.mode)} ${action.path}`;
    case 'rename':
      return `rename ${action.from} -> ${shortTarget(action.from, action.to)}`;
    case 'link':
      return `link ${action.path} -> ${action.target}`;
    case 'remove':
      return `remove ${action.path}`;
    case 'rmdir':
      return `rmdir ${action.path}`;
  }
}
