import type { Action } from '../../core/install/hook-links.js';
import { shortTarget } from './layout.js';

export type { Action } from '../../core/install/hook-links.js';

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
