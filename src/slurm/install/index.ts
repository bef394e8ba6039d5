// Slurm's part of `vtorque setup --slurm`: the two hook fronts and a slurm.conf include, all
// inside the install (nothing of Slurm's is touched; the admin adds one Include line).
import { join } from 'node:path';
import { RECORDS_DIR } from '../../core/contract/job-state.v1.js';
import type { HookFile, HookInstallContext, SchedulerHooks } from '../../core/install/hook-links.js';
import type { Renderer } from '../../core/render/index.js';
import { PROLOG_MARGIN_SECONDS } from '../hooks/exit-codes.js';
import { SLURM_HOOK_NAMES, VM_COMMENT_MARKER } from '../hook-names.js';

export const SLURM_FRONT_TEMPLATE = 'slurm-hook-front.sh.hbs';
export const SLURM_INCLUDE_TEMPLATE = 'slurm-include.conf.hbs';
/** The include's name in the install's hooks directory. */
export const SLURM_INCLUDE_NAME = 'slurm.conf';

/** The bundle the fronts start: beside Torque's hook bundle in dist/. */
export const slurmHookBundle = (ctx: HookInstallContext): string => join(ctx.hookBundle, '..', 'slurm-hook.mjs');

/** Where the include and the fronts end up (setup puts hook files in the install's hooks directory). */
export function slurmInstallPaths(hooksDir: string): { prolog: string; epilog: string; include: string } {
  return { prolog: join(hooksDir, 'slurm-prolog'), epilog: join(hooksDir, 'slurm-epilog'), include: join(hooksDir, SLURM_INCLUDE_NAME) };
}

export function slurmHookFiles(ctx: HookInstallContext, renderer: Renderer): HookFile[] {
  const vars = {
    nodePath: ctx.nodePath,
    hookBundle: slurmHookBundle(ctx),
    marker: VM_COMMENT_MARKER,
    recordsDir: join(ctx.spoolDir, RECORDS_DIR),
    jobsStateDir: join(ctx.spoolDir, 'jobs'),
  };
  const fronts = SLURM_HOOK_NAMES.map((name): HookFile => ({
    name,
    mode: 0o500,
    content: Buffer.from(renderer.render(SLURM_FRONT_TEMPLATE, { ...vars, hookName: name, isProlog: name === 'slurm-prolog', isEpilog: name === 'slurm-epilog' })),
  }));
  const paths = slurmInstallPaths(ctx.installHooksDir);
  const t = ctx.timeouts;
  const include = renderer.render(SLURM_INCLUDE_TEMPLATE, {
    includePath: paths.include,
    prologPath: paths.prolog,
    epilogPath: paths.epilog,
    prologueTimeout: t.prologue,
    teardownTimeout: t.teardown,
    // Room for our own margin before slurmd's SIGTERM, and for a slow node's Node start-up.
    hookTimeout: Math.max(t.prologue, t.teardown) + PROLOG_MARGIN_SECONDS + 15,
  });
  return [...fronts, { name: SLURM_INCLUDE_NAME, mode: 0o444, content: Buffer.from(include) }];
}

/** Slurm's part of `vtorque setup`: files only; slurmd finds them through the include. */
export const slurmHooks: SchedulerHooks = {
  hookFiles: (ctx, renderer) => slurmHookFiles(ctx, renderer),
  planInstall: () => ({ actions: [], renames: [] }),
  planUninstall: () => ({ actions: [], notes: [] }),
  commands: ['vsbatch'],
  installNotes: (ctx) => {
    const p = slurmInstallPaths(ctx.installHooksDir);
    return [`slurm: add to slurm.conf on every node and the controller: Include ${p.include}   (then: scontrol reconfigure; check: vtorque doctor --slurm)`];
  },
};
