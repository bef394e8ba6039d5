import { VtorqueError } from '../errors.js';
import { run } from '../exec/run.js';

/** One entry of the user or group database: its name and its uid or gid. */
export interface IdEntry {
  readonly name: string;
  readonly id: number;
}

export type IdDatabase = 'passwd' | 'group';

const TIMEOUT_MS = 10_000;

/** `getent passwd` / `getent group` output → name and id (the third field) per line; malformed lines are skipped. */
export function parseGetentIds(text: string): IdEntry[] {
  const entries: IdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || f[0] === '' || !/^\d+$/.test(f[2] as string)) continue;
    entries.push({ name: f[0] as string, id: Number(f[2]) });
  }
  return entries;
}

/**
 * The entry with this name or number (getent looks a numeric key up by id), or null when there is
 * none (getent's exit 2). Any other failure throws: a caller that needs "nobody has it" must not
 * take a broken lookup for a free id.
 */
export async function lookupId(db: IdDatabase, key: string): Promise<IdEntry | null> {
  const r = await run('getent', [db, '--', key], { reject: false, timeoutMs: TIMEOUT_MS });
  if (r.exitCode === 2) return null;
  if (r.exitCode !== 0) throw new VtorqueError('COMMAND_FAILED', `getent ${db} ${key} failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim().split('\n')[0] ?? ''}`, { fault: 'node' });
  return parseGetentIds(r.stdout)[0] ?? null;
}

/** Every entry getent can enumerate (files, and NSS sources that allow enumeration). */
export async function listIds(db: IdDatabase): Promise<IdEntry[]> {
  const r = await run('getent', [db], { reject: false, timeoutMs: TIMEOUT_MS * 3 });
  if (r.exitCode !== 0) throw new VtorqueError('COMMAND_FAILED', `getent ${db} failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim().split('\n')[0] ?? ''}`, { fault: 'node' });
  return parseGetentIds(r.stdout);
}

/** A user's entry in the passwd database. */
export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

/** `getent passwd` lines → entries (seven fields, numeric ids); malformed lines are skipped. */
export function parseGetentPasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || !/^\d+$/.test(f[2] as string) || !/^\d+$/.test(f[3] as string)) continue;
    entries.push({ name: f[0] as string, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: (f[6] ?? '').trim() || '/bin/sh' });
  }
  return entries;
}

/**
 * The user with exactly this name (never a prefix match), or null when there is none (getent's
 * exit 2). Any other failure throws (a user database this node cannot read now is the node's).
 */
export async function lookupPasswd(name: string): Promise<PasswdEntry | null> {
  const r = await run('getent', ['passwd', '--', name], { reject: false, timeoutMs: TIMEOUT_MS });
  if (r.exitCode === 2) return null;
  if (r.exitCode !== 0) throw new VtorqueError('COMMAND_FAILED', `getent passwd ${name} failed (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim().split('\n')[0] ?? ''}`, { fault: 'node' });
  return parseGetentPasswd(r.stdout).find((e) => e.name === name) ?? null;
}

/** The host's kvm group id (the group /dev/kvm is usually 0660 root:kvm for), or null when there is no such group. */
export async function kvmGroupGid(): Promise<number | null> {
  return (await lookupId('group', 'kvm'))?.id ?? null;
}
