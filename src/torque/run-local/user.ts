import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { lookupId, lookupPasswd } from '../../core/node/ids.js';

/** The job owner as pbs_mom knows it (getpwnam + getgrgid + the group list). */
export interface JobOwner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly group: string;
  /** Every group of the user (initgroups), primary included. */
  readonly groups: readonly number[];
  readonly home: string;
  /** Login shell, /bin/sh when the passwd entry names none. */
  readonly shell: string;
}

/** --user, else SUDO_USER; refuses root and a missing owner with what to do instead. */
export function chooseUserName(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  const name = explicit ?? env.SUDO_USER;
  if (name === undefined || name === '') {
    throw new VtorqueError('USAGE', 'run-local needs the job owner: pass --user USER, or run it with sudo so SUDO_USER names you', { exitCode: 2, fault: 'job' });
  }
  if (name === 'root') throw new VtorqueError('USAGE', 'run-local never runs a job as root (qsub refuses root too); pass --user USER', { exitCode: 2, fault: 'job' });
  return name;
}

export async function lookupOwner(name: string): Promise<JobOwner> {
  if (!/^[A-Za-z0-9._][A-Za-z0-9._-]{0,63}$/.test(name)) throw new VtorqueError('USAGE', `${JSON.stringify(name)} is not a user name`, { exitCode: 2, fault: 'job' });
  const pw = await lookupPasswd(name);
  if (pw === null) throw new VtorqueError('USAGE', `no such user: ${name}`, { exitCode: 2, fault: 'job' });
  const { uid, gid } = pw;
  if (uid === 0) throw new VtorqueError('USAGE', `${name} is uid 0; run-local never runs a job as root`, { exitCode: 2, fault: 'job' });
  const gr = await lookupId('group', String(gid));
  const ids = await run('id', ['-G', name], { reject: false });
  const groups = ids.exitCode === 0 ? ids.stdout.trim().split(/\s+/).map(Number).filter(Number.isInteger) : [gid];
  return {
    name,
    uid,
    gid,
    group: gr?.name ?? String(gid),
    groups: groups.includes(gid) ? groups : [gid, ...groups],
    home: pw.home,
    shell: pw.shell,
  };
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new VtorqueError('PERMISSION', 'run-local must run as root: it plays pbs_mom (root hooks, jobs started as their owner)', { exitCode: 4, fault: 'job' });
  }
}
