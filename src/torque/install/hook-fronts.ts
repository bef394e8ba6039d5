import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CANCEL_DIR, CANCEL_MARKER, RECORDS_DIR } from '../../core/contract/job-state.v1.js';
import type { HookFile, HookInstallContext } from '../../core/install/hook-links.js';
import type { Renderer } from '../../core/render/index.js';
import { HOOK_NAMES, type HookName } from '../hook-names.js';
import { momPaths } from '../torque-home.js';

export const HOOK_FRONT_TEMPLATE = 'hook-front.sh.hbs';

/**
 * pbs_mom runs every hook as root except `epilogue.precancel`, which runs as the job owner and is
 * refused unless it is other-readable and -executable.
 */
export function hookMode(name: HookName): number {
  return name === 'epilogue.precancel' ? 0o555 : 0o500;
}

/** One POSIX sh front per Torque hook, rendered from the root-owned install templates. */
export function hookFronts(ctx: HookInstallContext, renderer: Renderer): HookFile[] {
  return HOOK_NAMES.map((name) => ({ name, mode: hookMode(name), content: Buffer.from(renderHookFront(renderer, hookFrontVars(name, ctx))) }));
}

export interface HookFrontVars {
  hookName: HookName;
  origPath: string;
  isPrologue: boolean;
  scriptArg: number;
  jobsDir: string;
  nodePath: string;
  hookBundle: string;
  isPrecancel: boolean;
  /** epilogue and epilogue.parallel: a VM job is one with root's record or state dir. */
  isEpilogue: boolean;
  /** SPOOL_DIR/jobs: an epilogue for a job with a state dir there is a VM job, whatever its .SC says. */
  jobsStateDir: string;
  /** SPOOL_DIR/records: root's record of each VM job's start (engine/job-record.ts). */
  recordsDir: string;
  /** The mother superior's prologue: the only front that looks into the .SC (a bounded prefix). */
  isMotherPrologue: boolean;
  spoolDir: string;
  /** SPOOL_DIR/cancel: each VM job's owner-owned cancel directory (engine/cancel-signal.ts). */
  cancelDir: string;
  cancelMarker: string;
  /** Absolute paths of the two tools a front uses (pbs_mom's PATH is the admin's pbs_environment). */
  headPath: string;
  trPath: string;
}


export function hookFrontVars(name: HookName, ctx: Pick<HookInstallContext, 'hookDir' | 'schedulerHome' | 'nodePath' | 'hookBundle' | 'spoolDir'>): HookFrontVars {
  const isPrologue = name.startsWith('prologue');
  return {
    hookName: name,
    origPath: join(ctx.hookDir, `${name}.orig`),
    isPrologue,
    scriptArg: isPrologue ? 8 : 11,
    jobsDir: momPaths(ctx.schedulerHome).jobsDir,
    nodePath: ctx.nodePath,
    hookBundle: ctx.hookBundle,
    isPrecancel: name === 'epilogue.precancel',
    isEpilogue: name === 'epilogue' || name === 'epilogue.parallel',
    isMotherPrologue: name === 'prologue',
    jobsStateDir: join(ctx.spoolDir, 'jobs'),
    recordsDir: join(ctx.spoolDir, RECORDS_DIR),
    spoolDir: ctx.spoolDir,
    cancelDir: join(ctx.spoolDir, CANCEL_DIR),
    cancelMarker: CANCEL_MARKER,
    headPath: systemTool('head'),
    trPath: systemTool('tr'),
  };
}

/** A coreutils program by absolute path (Debian: /usr/bin; older layouts: /bin). */
function systemTool(name: string): string {
  return ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p)) ?? join('/usr/bin', name);
}

export function renderHookFront(renderer: Renderer, vars: HookFrontVars): string {
  return renderer.render(HOOK_FRONT_TEMPLATE, vars);
}

