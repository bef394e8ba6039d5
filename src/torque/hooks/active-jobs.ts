import { readdirSync } from 'node:fs';
import { jobDirName } from '../../core/contract/job-state.v1.js';
import { VtorqueError } from '../../core/errors.js';
import { lstatNoFollow } from '../../core/fs/index.js';
import { momPaths } from '../torque-home.js';

/**
 * Which jobs pbs_mom still has, from the files it keeps for each in `mom_priv/jobs`
 * (`<jobid>.JB`, `.SC`, `.TK`; `<jobid><port>.SC` in multi-mom mode; a prefix cut short for long
 * ids on some builds). Conservative by design: anything that could be one of those files' job is
 * active, so gc may reap late but never reaps a job pbs_mom still runs. A missing or unreadable
 * directory is an error (a wrong TORQUE_HOME must not make every job look finished).
 */
export function torqueActiveJobs(torqueHome: string): (jobIdOrDirName: string) => boolean {
  const dir = momPaths(torqueHome).jobsDir;
  const list = (): string[] => {
    const st = lstatNoFollow(dir, { trusted: true });
    if (!st?.isDirectory()) throw new VtorqueError('USAGE', `${dir} is not a directory: TORQUE_HOME must be pbs_mom's home for gc to know which jobs still run`, { fault: 'node' });
    return readdirSync(dir).map((f) => jobDirName(f));
  };
  list(); // a wrong TORQUE_HOME fails here, before anything is looked at
  // Listed afresh on every question: a job whose prologue began after gc started is seen.
  return (job) => {
    const prefixes = list();
    const stems = prefixes.map((p) => p.replace(/\.[A-Za-z]{2}$/, '')).filter((p) => p.includes('.'));
    const s = jobDirName(job);
    return prefixes.some((p) => p.startsWith(s) && (p.length === s.length || /[.\d]/.test(p[s.length] as string))) || stems.some((p) => s.startsWith(p));
  };
}
