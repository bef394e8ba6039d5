import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { VtorqueError } from '../../core/errors.js';
import type { Observed } from '../../core/install/hook-links.js';

export { look, type Observed, type ObservedState } from '../../core/install/hook-links.js';

const MISSING: Observed = { kind: 'missing' };

export function observePath(path: string, withContent: boolean): Observed {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return MISSING;
    throw new VtorqueError('INTERNAL', `${path}: cannot stat (${code ?? String(err)})`, { cause: err, fault: 'node' });
  }
  const owner = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  if (st.isFile()) return { kind: 'file', ...owner, content: withContent ? readFileSync(path) : null };
  if (st.isDirectory()) return { kind: 'dir', ...owner };
  if (st.isSymbolicLink()) {
    let resolvesToDir = false;
    try {
      resolvesToDir = statSync(path).isDirectory();
    } catch {
      resolvesToDir = false;
    }
    return { kind: 'link', target: readlinkSync(path), resolvesToDir };
  }
  return { kind: 'other' };
}

/** Observe many paths; `contentFor` lists those whose bytes the plan compares. */
export function observeAll(paths: Iterable<string>, contentFor: ReadonlySet<string> = new Set()): Map<string, Observed> {
  const out = new Map<string, Observed>();
  for (const p of paths) {
    if (!out.has(p)) out.set(p, observePath(p, contentFor.has(p)));
  }
  return out;
}
