import { lstatSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AppLayout } from './paths.js';

export interface SelfCheckProblem {
  readonly path: string;
  readonly problem: string;
  /** The exact command that fixes it. */
  readonly fix: string;
}

const TREES = ['dist', 'build', 'templates', 'templates-vm', 'hooks'] as const;

/**
 * What root is about to execute or render from must be root's alone, as pbs_mom insists for its
 * hooks: the app's bundles, addon, templates and hook fronts, the site config, and every directory
 * above them (a writable directory lets anyone swap the file). Returns every problem with its fix.
 */
export function selfCheck(layout: AppLayout, configPath: string | null): SelfCheckProblem[] {
  const problems: SelfCheckProblem[] = [];
  const seen = new Set<string>();
  const checkOne = (path: string, recurse: boolean): void => {
    if (seen.has(path)) return;
    seen.add(path);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return;
    if (st.uid !== 0) problems.push({ path, problem: `owned by uid ${st.uid}, not root`, fix: `chown root:root ${path}` });
    // A sticky directory (like /tmp) lets others add entries but not replace ours.
    const sticky = st.isDirectory() && (st.mode & 0o1000) !== 0;
    if ((st.mode & 0o022) !== 0 && !st.isSymbolicLink() && !sticky) {
      problems.push({ path, problem: `writable by ${st.mode & 0o020 ? 'group' : ''}${(st.mode & 0o022) === 0o022 ? ' and ' : ''}${st.mode & 0o002 ? 'others' : ''}`, fix: `chmod go-w ${path}` });
    }
    if (recurse && st.isDirectory()) for (const entry of readdirSync(path)) checkOne(join(path, entry), true);
  };
  const ancestors = (path: string): void => {
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      checkOne(dir, false);
      if (dir === '/') break;
    }
  };
  ancestors(layout.root);
  checkOne(layout.root, false);
  for (const tree of TREES) checkOne(join(layout.root, tree), true);
  if (configPath && statSync(configPath, { throwIfNoEntry: false })) {
    ancestors(configPath);
    checkOne(configPath, false);
  }
  return problems;
}

export function formatSelfCheck(problems: readonly SelfCheckProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.problem}; fix: ${p.fix}`);
}
