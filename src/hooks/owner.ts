import { VtorqueError } from '../core/errors.js';
import { run } from '../core/exec/run.js';
import type { JobIdentity } from '../engine/index.js';

/**
 * The job owner from the system's user database, matched exactly by name (the original grepped
 * /etc/passwd for a substring, so `bob` could resolve to `bobby`). The job's group (pbs_mom's
 * argv[3]) gives the gid when it exists, else the user's primary group.
 */
export async function resolveOwner(user: string, group: string): Promise<JobIdentity['owner'] & { home: string }> {
  const pw = (await run('getent', ['passwd', '--', user], { reject: false, timeoutMs: 10_000 })).stdout.split('\n').map((l) => l.split(':')).find((f) => f[0] === user);
  // pbs_mom knew the user: a user database this node cannot read now (NSS, LDAP) is the node's problem.
  if (!pw || pw.length < 7) throw new VtorqueError('REQUEST_INVALID', `job owner ${JSON.stringify(user)} is not a user on this node`, { fault: 'node' });
  const uid = Number(pw[2]);
  let gid = Number(pw[3]);
  let groupName = group;
  const gr = (await run('getent', ['group', '--', group], { reject: false, timeoutMs: 10_000 })).stdout.split('\n').map((l) => l.split(':')).find((f) => f[0] === group);
  if (gr && gr.length >= 3) gid = Number(gr[2]);
  else groupName = (await run('getent', ['group', String(gid)], { reject: false, timeoutMs: 10_000 })).stdout.split(':')[0] || group;
  if (!Number.isInteger(uid) || uid <= 0 || !Number.isInteger(gid) || gid <= 0) {
    throw new VtorqueError('REQUEST_INVALID', `job owner ${user} resolves to uid ${uid} gid ${gid}: VM jobs are not run for root or system groups`, { fault: 'job' });
  }
  return { user, uid, gid, group: groupName, home: pw[5] ?? '/' };
}
