import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { layoutAt } from '../../src/core/install/paths.js';
import { runVsub } from '../../src/cli/vsub/submit.js';
import { VtorqueError } from '../../src/core/errors.js';
import type { SubmitIo } from '../../src/cli/shared/process.js';
import { REPO, type TestSite } from './site.js';

export interface VsubOutcome {
  code: number;
  out: string;
  err: string;
  /** The qsub call, if one was made: program, argv, stdin text, and the wrapper file's text. */
  qsub: { file: string; args: string[]; input: string | null; fileText: string | null } | null;
  error: VtorqueError | null;
}

/** Run vsub in-process against a test site, as `runMain` would map errors to exit codes. */
export async function vsub(site: TestSite, argv: string[], opts: { stdin?: string; env?: Record<string, string>; qsubRc?: number; hostname?: string } = {}): Promise<VsubOutcome> {
  let out = '';
  let err = '';
  let qsub: VsubOutcome['qsub'] = null;
  const io = harnessIo(site, opts, (t) => void (out += t), (t) => void (err += t));
  try {
    const code = await runVsub(argv, {
      ...io,
      runQsub: async (file, args, input) => {
        const last = args[args.length - 1];
        const fileText = last && last.startsWith(site.tmp) && existsSync(last) ? readFileSync(last, 'utf8') : null;
        qsub = { file, args: [...args], input, fileText };
        return opts.qsubRc ?? 0;
      },
    });
    return { code, out, err, qsub, error: null };
  } catch (e) {
    if (!(e instanceof VtorqueError)) throw e;
    return { code: e.exitCode, out, err: err + e.message, qsub, error: e };
  }
}

/** The process side of an in-process submit command run against a test site. */
export function harnessIo(site: TestSite, opts: { stdin?: string; env?: Record<string, string>; hostname?: string }, out: (t: string) => void, err: (t: string) => void): SubmitIo {
  let stdinRead = false;
  return {
    env: { VTORQUE_CONFIG: site.configPath, TMPDIR: site.tmp, ...opts.env },
    cwd: site.cwd,
    hostname: opts.hostname ?? 'node01',
    nodePath: '/usr/bin/node',
    layout: layoutAt(REPO),
    readStdin: async () => {
      if (stdinRead) throw new Error('stdin read twice');
      stdinRead = true;
      return opts.stdin ?? '';
    },
    out,
    err,
  };
}

/** Write a file into the site's working directory; returns its name, for the argv. */
export function putScript(site: TestSite, name: string, text: string): string {
  writeFileSync(join(site.cwd, name), text);
  return name;
}

/** Refused as bad user input: the documented code, one line, the job's fault, nothing submitted or left behind. Returns the line. */
export function expectRefusedOneLine(site: TestSite, r: VsubOutcome, code: number): string {
  expect(r.code).toBe(code);
  expect(r.error?.fault).toBe('job');
  expect(r.error?.code).not.toBe('INTERNAL');
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.qsub).toBeNull();
  expect(readdirSync(site.tmp)).toEqual([]);
  return r.err;
}
