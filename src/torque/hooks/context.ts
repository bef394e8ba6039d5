import { join } from 'node:path';
import { displayValue, VtorqueError, type Fault } from '../../core/errors.js';

import { HOOK_NAMES, type HookName } from '../hook-names.js';
import { momPaths } from '../torque-home.js';

export { HOOK_NAMES, type HookName };

/**
 * What pbs_mom tells a hook, by position (torque-hook-contract.md §5.1). Empty values arrive as ""
 * so positions are stable. Torque 6 passes the .SC path last (prologue argv[8], epilogue family
 * argv[11]); older Torque omits it, and it is derived from TORQUE_HOME.
 */
export interface HookContext {
  readonly hook: HookName;
  readonly jobId: string;
  readonly user: string;
  readonly group: string;
  readonly jobName: string;
  readonly resources: string;
  readonly queue: string;
  readonly account: string;
  readonly scriptPath: string;
  /** Epilogue family only. */
  readonly sessionId: string | null;
  readonly resourcesUsed: string | null;
  readonly exitStatus: number | null;
  /** Exit code of `<hook>.orig`, which the shell front already ran. */
  readonly origRc: number;
  /**
   * Prologue only: why a user or group name pbs_mom passed is refused (the job is then told why
   * and not started), or null. Teardown never needs the names: root's record says who.
   */
  readonly nameProblem: string | null;
}

const JOB_ID = /^[A-Za-z0-9._\-[\]]{1,200}$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** A user or group name as we accept it from pbs_mom (and pass to getent). */
export const isAcceptedName = (name: string): boolean => NAME.test(name);

export function parseHookArgv(argv: readonly string[], torqueHome: string): HookContext {
  const [hookArg, origRcArg, ...pbs] = argv;
  if (!(HOOK_NAMES as readonly string[]).includes(hookArg ?? '')) throw usage(`unknown hook ${JSON.stringify(hookArg)}`);
  const hook = hookArg as HookName;
  const origRc = Number(origRcArg ?? '0');
  const prologue = hook.startsWith('prologue');
  const [jobId = '', user = '', group = '', jobName = ''] = pbs;
  const need = prologue ? [7, 8] : [10, 11];
  if (!need.includes(pbs.length)) throw usage(`${hook} expects ${need.join(' or ')} arguments from pbs_mom, got ${pbs.length}`);
  if (!JOB_ID.test(jobId)) throw usage(`job id ${JSON.stringify(jobId)} is not a Torque job id`);
  // The prologue resolves the owner by these names; teardown never needs them (root's record says who).
  const nameProblem =
    prologue && (!NAME.test(user) || !NAME.test(group))
      ? `job owner ${displayValue(user)} / group ${displayValue(group)}: expected user and group names of letters, digits, '.', '_' or '-' (at most 64 characters)`
      : null;
  const at = (i: number): string => pbs[i] ?? '';
  const derived = join(momPaths(torqueHome).jobsDir, `${jobId}.SC`);
  if (prologue) {
    return { hook, jobId, user, group, jobName, resources: at(4), queue: at(5), account: at(6), scriptPath: pbs.length === 8 ? at(7) : derived, sessionId: null, resourcesUsed: null, exitStatus: null, origRc, nameProblem };
  }
  const exit = Number(at(9));
  return {
    hook, jobId, user, group, jobName, sessionId: at(4), resources: at(5), resourcesUsed: at(6), queue: at(7), account: at(8),
    exitStatus: Number.isInteger(exit) ? exit : null, scriptPath: pbs.length === 11 ? at(10) : derived, origRc, nameProblem: null,
  };
}

function usage(msg: string, fault: Fault = 'node'): VtorqueError {
  return new VtorqueError('USAGE', msg, { exitCode: 1, fault });
}
