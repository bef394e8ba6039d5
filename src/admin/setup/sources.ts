import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VtorqueError } from '../../core/errors.js';

/** One file of the app copy, relative to `<prefix>/lib/vtorque`. */
export interface SourceFile {
  rel: string;
  mode: number;
  content: Buffer;
}

export interface SourceTree {
  files: SourceFile[];
  /** Every directory of the copy, relative, parents before children. */
  dirs: string[];
  /** Things skipped on the way (symlinks, sockets), shown to the admin. */
  notes: string[];
  /** `contrib/config.yaml` of the source root, when it has one. */
  exampleConfig: Buffer | null;
}

const DATA_FILE = 0o444;
const EXEC_FILE = 0o555;

/** The compiled libvirt addon; the bundles load it from here, relative to dist/ (see build.mjs). */
export const NATIVE_ADDON = 'build/Release/libvirt.node';

/** Refuse a source root that was never built: the hooks would point at files that are not there. */
export function checkSourceRoot(sourceRoot: string): void {
  for (const rel of ['dist/hook.mjs', 'dist/job-run.mjs', NATIVE_ADDON]) {
    const path = join(sourceRoot, rel);
    if (!existsSync(path)) throw new VtorqueError('USAGE', `${path} is missing: run npm run build first (in ${sourceRoot})`, { fault: 'node' });
  }
}

/** Read what gets copied into `<prefix>/lib/vtorque`: bundles, the libvirt addon, both template trees. */
export function collectAppSources(sourceRoot: string): SourceTree {
  const tree: SourceTree = { files: [], dirs: [], notes: [], exampleConfig: null };
  const dist = join(sourceRoot, 'dist');
  tree.dirs.push('dist');
  for (const name of readdirSync(dist).sort()) {
    const full = join(dist, name);
    if (name.endsWith('.mjs') && statSync(full).isFile()) tree.files.push({ rel: `dist/${name}`, mode: DATA_FILE, content: readFileSync(full) });
  }
  for (const top of ['templates', 'templates-vm']) {
    walk(sourceRoot, top, tree, () => DATA_FILE);
  }
  tree.dirs.push('build', 'build/Release');
  tree.files.push({ rel: NATIVE_ADDON, mode: EXEC_FILE, content: readFileSync(join(sourceRoot, NATIVE_ADDON)) });
  const example = join(sourceRoot, 'contrib', 'config.yaml');
  if (existsSync(example)) tree.exampleConfig = readFileSync(example);
  tree.dirs = [...new Set(tree.dirs)];
  return tree;
}

function walk(root: string, rel: string, tree: SourceTree, modeOf: (sourceMode: number) => number): void {
  const dir = join(root, rel);
  if (!existsSync(dir)) return;
  if (tree.files.some((f) => f.rel.startsWith(`${rel}/`))) return; // nested package already copied
  tree.dirs.push(rel);
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const childRel = `${rel}/${entry.name}`;
    if (entry.isDirectory()) {
      walk(root, childRel, tree, modeOf);
    } else if (entry.isFile()) {
      const full = join(root, childRel);
      tree.files.push({ rel: childRel, mode: modeOf(statSync(full).mode), content: readFileSync(full) });
    } else {
      tree.notes.push(`skipped ${join(root, childRel)}: not a regular file or directory`);
    }
  }
}
