import { spawn, type StdioOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** A process started in a session of its own (setsid), as pbs_mom starts hooks and jobs. */
export interface SessionChild {
  /** pid = session id = process group id. */
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** The write end of a stdin pipe, when one was asked for. */
  readonly stdin: Writable | null;
}

export interface SessionSpawn {
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** stdin: 'ignore' is /dev/null; stdout/stderr are descriptors this process holds open. */
  readonly stdin: 'ignore' | 'pipe';
  readonly stdout: number | 'ignore';
  readonly stderr: number | 'ignore';
}

/** Spawn `argv` (file + arguments, no shell) detached, i.e. after setsid(); rejects when it cannot start. */
export function startSession(argv: readonly string[], opts: SessionSpawn): Promise<SessionChild> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = [opts.stdin, opts.stdout, opts.stderr];
    const child = spawn(file, args, { detached: true, env: opts.env, cwd: opts.cwd, stdio });
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => {
      child.once('exit', (code, signal) => res({ code, signal }));
    });
    child.once('error', reject);
    child.once('spawn', () => {
      child.stdin?.on('error', () => undefined); // the job may exit before reading its command line
      resolve({ pid: child.pid as number, exited, stdin: child.stdin });
    });
  });
}

/**
 * Signal every process of session `sid`: its process group first, then anything that moved to
 * another group but stayed in the session (found in /proc), as pbs_mom kills a hook's session.
 */
export function killSession(sid: number, signal: NodeJS.Signals): void {
  trySignal(-sid, signal);
  for (const pid of sessionMembers(sid)) trySignal(pid, signal);
}

export function sessionMembers(sid: number): number[] {
  const members: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return members;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid) members.push(Number(name));
  }
  return members;
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
