import { ValidationError, type Issue } from '../core/errors.js';
import type { Renderer } from '../core/render/index.js';

/** Root-owned template in `templates/` that buildJobEnv renders. */
export const JOB_ENV_TEMPLATE = 'guest-env.sh.hbs';

const NAME = /^[A-Z_][A-Z0-9_]*$/;
/**
 * Names the file must not set: DISTRO is the template's own, the others change how the user's
 * shell parses or what it runs, which a job's environment has no business doing.
 */
const RESERVED = /^(DISTRO|PATH|IFS|ENV|BASH_ENV|CDPATH|SHELLOPTS|BASHOPTS|PS[1-4]|PROMPT_COMMAND|HOME|SHELL|USER|LOGNAME|LD_[A-Z0-9_]*)$/;

/**
 * `/var/spool/torque/vm/job.env` for a job VM (sourced by /etc/profile.d/vtorque-job.sh): one `export NAME='value'` line per variable (the
 * PBS_* environment of the job), each value one single-quoted shell word, sorted by name, then
 * `DISTRO='SLG'`. Values may hold anything but NUL, which no shell variable can carry.
 */
export function buildJobEnv(vars: Readonly<Record<string, string>>, renderer: Renderer): string {
  const issues: Issue[] = [];
  for (const [name, value] of Object.entries(vars)) {
    if (!NAME.test(name) || RESERVED.test(name)) {
      issues.push({ source: 'job environment', key: name, expected: 'a variable name matching ^[A-Z_][A-Z0-9_]*$ that is not reserved (PATH, IFS, LD_*, DISTRO, …)' });
    } else if (typeof value !== 'string' || value.includes('\0')) {
      issues.push({ source: 'job environment', key: name, value, expected: 'a string without NUL' });
    }
  }
  if (issues.length > 0) throw new ValidationError('INTERNAL', issues, { fault: 'node' });
  const sorted = Object.keys(vars)
    .sort()
    .map((name) => ({ name, value: vars[name] as string }));
  return renderer.render(JOB_ENV_TEMPLATE, { vars: sorted });
}
