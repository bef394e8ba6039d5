import { accessSync, constants, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { delimiter, join } from 'node:path';
import { VtorqueError } from '../errors.js';

/** Directories searched after PATH: root's tools live in sbin, which a non-login PATH may lack. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * The absolute path of an executable, looked up like a shell would (PATH, then the sbin
 * directories), or null. `name` containing a slash is checked as given.
 */
export function findExecutable(name: string, path: string = process.env.PATH ?? ''): string | null {
  const candidates = name.includes('/')
    ? [name]
    : [...path.split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS].map((dir) => join(dir, name));
  for (const file of candidates) {
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}

/** A program vTorque runs on a node, and the Debian package that provides it. */
export interface NodeTool {
  readonly file: string;
  readonly pkg: string;
}

/**
 * The refusal for programs this node lacks: the node's fault, never the job's (the administrator
 * installs them; until then another node or a later try may work). The message says so from the
 * node's side and names each program with its Debian package. `oneOf`: any one of `tools` would do.
 */
export function missingToolError(tools: readonly NodeTool[], purpose: string, how: 'all' | 'oneOf' = 'all'): VtorqueError {
  const named = tools.map((t) => `${t.file} (Debian package ${t.pkg})`);
  const pkgs = how === 'oneOf' ? tools.slice(0, 1).map((t) => t.pkg) : [...new Set(tools.map((t) => t.pkg))];
  const what =
    how === 'oneOf' && tools.length > 1
      ? `none of ${named.join(', ')} is installed, and ${purpose} needs one of them`
      : `${named.join(', ')} ${tools.length > 1 ? 'are' : 'is'} not installed, and ${purpose} needs ${tools.length > 1 ? 'them' : 'it'}`;
  return new VtorqueError('NOT_SUPPORTED', `node ${hostname()}: ${what}; the administrator can install ${tools.length > 1 && how === 'all' ? 'them' : 'it'} with: apt-get install ${pkgs.join(' ')}`, {
    fault: 'node',
  });
}

/** The absolute path of `tool`, or missingToolError (a node fault) when this node lacks it. */
export function requireExecutable(tool: NodeTool, purpose: string, path: string = process.env.PATH ?? ''): string {
  const found = findExecutable(tool.file, path);
  if (found === null) throw missingToolError([tool], purpose);
  return found;
}
