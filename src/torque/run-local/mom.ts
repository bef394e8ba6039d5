import { readFileSync, statSync, type Stats } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { killSession, startSession } from './session.js';
import type { HookRecord, MomHook } from './types.js';
import { hookRcFromWait, PELOG_RC } from './verdict.js';

/**
 * Running one hook exactly as pbs_mom 6.1's run_pelog() does (torque-hook-contract.md §5):
 * permission check on the stat'ed (symlink-followed) file, positional argv with "" for empty values,
 * the mom's environment plus a few PBS_* variables and nothing else, its own session, the alarm.
 */
export interface HookJob {
  readonly jobId: string;
  readonly user: string;
  readonly group: string;
  readonly jobName: string;
  /** Resource_List text (prologue argv[5], epilogue argv[6]). */
  readonly resources: string;
  readonly queue: string;
  readonly account: string;
  readonly script: string;
}

/** What the epilogue family gets beyond the prologue's fields. */
export interface EpilogueFacts {
  /** The job's session id, "0" when it never started. */
  readonly sessionId: string;
  /** resources_used; "" for epilogue.precancel. */
  readonly resourcesUsed: string;
  readonly exitStatus: number;
}

/** Prologue argv[1..8]. */
export function prologueArgs(j: HookJob): string[] {
  return [j.jobId, j.user, j.group, j.jobName, j.resources, j.queue, j.account, j.script];
}

/** Epilogue, epilogue.precancel argv[1..11]. */
export function epilogueArgs(j: HookJob, e: EpilogueFacts): string[] {
  return [j.jobId, j.user, j.group, j.jobName, e.sessionId, j.resources, e.resourcesUsed, j.queue, j.account, String(e.exitStatus), j.script];
}

/** The job facts pbs_mom exports to hooks on the mother superior. */
export interface HookEnvFacts {
  readonly momEnv: Readonly<Record<string, string>>;
  readonly msHost: string;
  readonly nodefile: string;
  readonly np: number;
  readonly ppn: number;
  readonly workDir: string;
  /** Raw -l nodes= value; null leaves PBS_RESOURCE_NODES unset. */
  readonly resourceNodes: string | null;
}

/** The complete hook environment (§5.2): no HOME, USER, PBS_JOBID, or anything of the invoker's. */
export function hookEnv(f: HookEnvFacts, pwd: string): Record<string, string> {
  const env: Record<string, string> = {
    ...f.momEnv,
    PBS_MSHOST: f.msHost,
    PBS_NODEFILE: f.nodefile,
    PBS_NODENUM: '0',
    PBS_NP: String(f.np),
    PBS_NUM_NODES: '1',
    PBS_NUM_PPN: String(f.ppn),
    PBS_O_WORKDIR: f.workDir,
    PWD: pwd,
    SHLVL: '1',
  };
  if (f.resourceNodes !== null) env.PBS_RESOURCE_NODES = f.resourceNodes;
  return env;
}

/**
 * pbs_mom's own environment, from `<TORQUE_HOME>/pbs_environment` (NAME=value lines); without that
 * file, what a default install holds: LANG=C.UTF-8, PATH=/bin:/usr/bin.
 */
export function readMomEnv(torqueHome: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(join(torqueHome, 'pbs_environment'), 'utf8');
  } catch {
    return { LANG: 'C.UTF-8', PATH: '/bin:/usr/bin' };
  }
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1] as string] = m[2] as string;
  }
  return env;
}

/**
 * check_pelog_permissions(): root-owned regular file, owner r+x, not group/other writable; a hook
 * that runs as the job owner must also be other r+x.
 */
export function hookPermissionsOk(st: Stats, runsAsOwner: boolean): boolean {
  if (st.uid !== 0 || !st.isFile()) return false;
  if ((st.mode & 0o500) !== 0o500 || (st.mode & 0o022) !== 0) return false;
  return !runsAsOwner || (st.mode & 0o005) === 0o005;
}

/** Everything a hook run needs besides its argv. */
export interface MomRuntime {
  readonly momPriv: string;
  readonly envFacts: HookEnvFacts;
  readonly owner: { readonly uid: number; readonly gid: number; readonly groups: readonly number[]; readonly home: string };
  readonly alarmSec: number;
  /** Absolute setpriv; `ipNetns` = [ip, 'netns', 'exec', NS] or []. */
  readonly setpriv: string;
  readonly ipNetns: readonly string[];
}

export interface HookIo {
  readonly stdout: number | 'ignore';
  readonly stderr: number | 'ignore';
}

/** Run `hook` from mom_priv; null when there is no such file (pbs_mom then carries on with rc 0). */
export async function runHook(rt: MomRuntime, hook: MomHook, args: readonly string[], io: HookIo): Promise<HookRecord | null> {
  const path = join(rt.momPriv, hook);
  const argv = [path, ...args];
  const started = performance.now();
  const record = (rc: number): HookRecord => ({ hook, rc, ms: Math.round(performance.now() - started), argv });
  const asOwner = hook === 'epilogue.precancel';
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return record((constants.errno as Record<string, number>)[code ?? ''] ?? PELOG_RC.permission);
  }
  if (!hookPermissionsOk(st, asOwner)) return record(PELOG_RC.permission);

  const cwd = asOwner ? rt.owner.home : rt.momPriv;
  const umask = hook === 'prologue' ? '077' : '022';
  const privileges = asOwner
    ? [rt.setpriv, `--reuid=${rt.owner.uid}`, `--regid=${rt.owner.gid}`, '--init-groups', '--']
    : [rt.setpriv, `--groups=${[0, ...rt.owner.groups.filter((g) => g !== 0)].join(',')}`, '--'];
  // The one shell use: sets the umask in the child, then execs the hook with argv[0] = its path.
  const command = [...rt.ipNetns, ...privileges, '/bin/sh', '-c', `umask ${umask}; exec "$0" "$@"`, ...argv];
  let child;
  try {
    child = await startSession(command, { env: hookEnv(rt.envFacts, cwd), cwd, stdin: 'ignore', stdout: io.stdout, stderr: io.stderr });
  } catch {
    return record(255); // the mom's child exits 255 when execv fails
  }
  return record(await waitWithAlarm(child.pid, child.exited, rt.alarmSec));
}

/** The alarm SIGKILLs the hook's whole session (rc -4); still there 5 s later gives -5. */
function waitWithAlarm(pid: number, exited: Promise<{ code: number | null }>, alarmSec: number): Promise<number> {
  return new Promise((resolve) => {
    let fired = false;
    let giveUp: NodeJS.Timeout | undefined;
    const alarm = setTimeout(() => {
      fired = true;
      killSession(pid, 'SIGKILL');
      giveUp = setTimeout(() => resolve(PELOG_RC.cannotKill), 5000);
    }, alarmSec * 1000);
    void exited.then(({ code }) => {
      clearTimeout(alarm);
      if (giveUp) clearTimeout(giveUp);
      resolve(fired ? PELOG_RC.timeout : hookRcFromWait(code));
    });
  });
}
