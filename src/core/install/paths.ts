import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where this copy of vTorque lives. A checkout and an installation share one layout
 * (`dist/`, `templates/`, `templates-vm/`, `bin/`), so the app root is the nearest ancestor of the
 * running module that holds `templates-vm/`. Never derived from the environment.
 */
export interface AppLayout {
  readonly root: string;
  readonly templates: string;
  readonly templatesVm: string;
  readonly dist: string;
  /** The `vtorque` admin/runtime entry (bundle). */
  readonly vtorqueBundle: string;
  /** The job runner's own bundle, which the job wrapper runs with `node` as the job user. */
  readonly jobRunBundle: string;
  readonly hookBundle: string;
}

export function appLayout(fromUrl: string = import.meta.url): AppLayout {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'templates-vm'))) break;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the vTorque app root above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
  return layoutAt(dir);
}

export function layoutAt(root: string): AppLayout {
  return {
    root,
    templates: join(root, 'templates'),
    templatesVm: join(root, 'templates-vm'),
    dist: join(root, 'dist'),
    vtorqueBundle: join(root, 'dist', 'vtorque.mjs'),
    jobRunBundle: join(root, 'dist', 'job-run.mjs'),
    hookBundle: join(root, 'dist', 'hook.mjs'),
  };
}
