import { displayValue, VtorqueError } from '../../core/errors.js';

/**
 * What slurmd tells its Prolog and Epilog, all in the environment (slurm-hook-contract.md §2:
 * no argv, no PATH, stdin /dev/null). Only slurmd sets these for a root hook; the job's own
 * environment never reaches it.
 */
export interface SlurmHookContext {
  readonly hook: 'prolog' | 'epilog';
  readonly jobId: string;
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** SLURMD_NODENAME: this node's Slurm name. */
  readonly node: string;
  /** SLURM_NODELIST, compressed (`n[1-3]`). */
  readonly nodeList: string;
  /** SLURM_JOB_CPUS_PER_NODE (`2(x3),1`), in node-list order. */
  readonly cpusPerNode: string;
  /** SLURM_JOB_RESTART_COUNT: how often Slurm has requeued the job before this start. */
  readonly restartCount: number;
  readonly partition: string;
  readonly cluster: string;
  /** Why the job owner's name is refused (the job is then failed with the reason), or null. */
  readonly userProblem: string | null;
}

const JOB_ID = /^[0-9]{1,12}$/;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const NODE = /^[A-Za-z0-9._-]{1,128}$/;

export function parseSlurmHookEnv(hook: 'prolog' | 'epilog', env: NodeJS.ProcessEnv): SlurmHookContext {
  const context = env.SLURM_SCRIPT_CONTEXT;
  const expected = hook === 'prolog' ? 'prolog_slurmd' : 'epilog_slurmd';
  // Set by slurmd 21.08 and later; a hook started any other way is not slurmd's and does nothing.
  if (context !== expected) throw usage(`SLURM_SCRIPT_CONTEXT is ${displayValue(context ?? '')}, expected ${expected}: the vTorque Slurm ${hook} runs only as slurmd's ${hook === 'prolog' ? 'Prolog' : 'Epilog'}`);
  const jobId = env.SLURM_JOB_ID ?? '';
  if (!JOB_ID.test(jobId)) throw usage(`SLURM_JOB_ID ${displayValue(jobId)} is not a Slurm job id (digits)`);
  const node = env.SLURMD_NODENAME ?? '';
  if (!NODE.test(node)) throw usage(`SLURMD_NODENAME ${displayValue(node)} is not a node name`);
  const uid = Number(env.SLURM_JOB_UID ?? '');
  const gid = Number(env.SLURM_JOB_GID ?? '');
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw usage(`SLURM_JOB_UID/SLURM_JOB_GID ${displayValue(env.SLURM_JOB_UID ?? '')}/${displayValue(env.SLURM_JOB_GID ?? '')} are not numeric ids`);
  const user = env.SLURM_JOB_USER ?? '';
  const restarts = Number(env.SLURM_JOB_RESTART_COUNT ?? '0');
  return {
    hook,
    jobId,
    user,
    uid,
    gid,
    node,
    nodeList: env.SLURM_NODELIST ?? node,
    cpusPerNode: env.SLURM_JOB_CPUS_PER_NODE ?? '',
    restartCount: Number.isInteger(restarts) && restarts >= 0 ? restarts : 0,
    partition: env.SLURM_JOB_PARTITION ?? '',
    cluster: env.SLURM_CLUSTER_NAME ?? '',
    userProblem: NAME.test(user) ? null : `job owner ${displayValue(user)}: expected a user name of letters, digits, '.', '_' or '-' (at most 64 characters)`,
  };
}

/**
 * SLURM_JOB_CPUS_PER_NODE (`4(x2),2`) as one count per node, in node-list order; null when it does
 * not have that form (the Prolog then asks the controller).
 */
export function expandCpusPerNode(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^([0-9]{1,6})(?:\(x([0-9]{1,6})\))?$/.exec(part.trim());
    if (!m) return null;
    for (let i = 0; i < Number(m[2] ?? '1'); i++) out.push(Number(m[1]));
  }
  return out.length > 0 ? out : null;
}

function usage(message: string): VtorqueError {
  return new VtorqueError('USAGE', message, { fault: 'node', exitCode: 1 });
}
