import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { pidInNetns } from './netns.js';

/** A pid from a pidfile, or null when the file is missing or holds no pid. */
export function readPidFile(path: string): number | null {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^[1-9]\d*$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}

/** Whether the pid is a live process (zombies count as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The program a pid runs (`libvirtd`), or null when gone or unreadable. */
export function programOf(pid: number): string | null {
  try {
    return basename(readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''));
  } catch {
    return null;
  }
}

/**
 * The live daemon recorded in `pidFile`: running `program` inside netns `ns`. A pidfile naming
 * anything else (a stale pid reused by another process) yields null and is never signalled.
 */
export function sandboxDaemonPid(pidFile: string, program: string, ns: string): number | null {
  const pid = readPidFile(pidFile);
  if (pid === null || !isAlive(pid)) return null;
  return programOf(pid) === program && pidInNetns(pid, ns) ? pid : null;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` every `intervalMs` until it returns a value other than null/false, or the bound passes. */
export async function pollUntil<T>(check: () => Promise<T | null | false> | T | null | false, timeoutMs: number, intervalMs = 200): Promise<T | null> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null && value !== false) return value;
    if (performance.now() >= deadline) return null;
    await sleep(intervalMs);
  }
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. The caller has verified the pid is
 * ours (program and netns). Returns how it ended.
 */
export async function terminate(pid: number, graceMs = 10_000): Promise<'gone' | 'terminated' | 'killed' | 'stuck'> {
  if (!isAlive(pid)) return 'gone';
  signal(pid, 'SIGTERM');
  if (await pollUntil(() => !isAlive(pid), graceMs, 100)) return 'terminated';
  signal(pid, 'SIGKILL');
  return (await pollUntil(() => !isAlive(pid), 5000, 100)) ? 'killed' : 'stuck';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
