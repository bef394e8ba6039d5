import { VtorqueError } from '../core/errors.js';
import { lookupId, lookupPasswd } from '../core/node/ids.js';
import type { JobIdentity } from '../engine/index.js';

/**
 * The job owner from the system's user database, matched exactly by name (the original grepped
 * /etc/passwd for a substring, so `bob` could resolve to `bobby`). The job's group (pbs_mom's
 * argv[3]) gives the gid when it exists, else the user's primary group.
 */
export async function resolveOwner(user: string, group: string): Promise<JobIdentity['owner'] & { home: string }> {
  const pw = await lookupPasswd(user);
  // pbs_mom knew the user: a user database this node cannot read now (NSS, LDAP) is the node's problem.
  if (pw === null) throw new VtorqueError('REQUEST_INVALID', `job owner ${JSON.stringify(user)} is not a user on this node`, { fault: 'node' });
  const uid = pw.uid;
  let gid = pw.gid;
  let groupName = group;
  const gr = await lookupId('group', group);
  if (gr !== null && gr.name === group) gid = gr.id;
  else groupName = (await lookupId('group', String(gid)))?.name ?? group;
  if (!Number.isInteger(uid) || uid <= 0 || !Number.isInteger(gid) || gid <= 0) {
    throw new VtorqueError('REQUEST_INVALID', `job owner ${user} resolves to uid ${uid} gid ${gid}: VM jobs are not run for root or system groups`, { fault: 'job' });
  }
  return { user, uid, gid, group: groupName, home: pw.home };
}
