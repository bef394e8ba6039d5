import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { displayValue, VtorqueError } from '../../core/errors.js';
import { VSUB_EXIT } from '../vsub/exit-codes.js';

/** The user's job script file, relative to the submit directory: a regular file only. */
export function readScriptFile(path: string, cwd: string): string {
  const full = path.startsWith('/') ? path : join(cwd, path);
  let st;
  try {
    st = statSync(full);
  } catch (err) {
    throw new VtorqueError('USAGE', `script file ${displayValue(path)} cannot be loaded - ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { fault: 'job' });
  }
  if (!st.isFile()) throw new VtorqueError('USAGE', `script file ${displayValue(path)} is not a regular file`, { fault: 'job' });
  return readFileSync(full, 'utf8');
}

/** A file a -vm key names, read as the submitting user: regular files of bounded size only. */
export function readUserFile(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new Error('not a regular file');
  if (st.size > 64 * 1024 * 1024) throw new Error('too large');
  return readFileSync(path, 'utf8');
}

/** DEBUG=true and the like in the submitter's environment. */
export function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value);
}

/**
 * Write a job wrapper into a private directory under `base` with the user's script's own name (so
 * the scheduler names the job and its outputs as for the script), run `use` with its path, remove it.
 */
export async function withPrivateFile(base: string, prefix: string, name: string, text: string, use: (path: string) => Promise<number>): Promise<number> {
  let dir: string;
  try {
    dir = mkdtempSync(join(base, prefix));
  } catch (err) {
    throw new VtorqueError('INTERNAL', `cannot create a private temporary directory for the job wrapper: ${(err as Error).message}`, { exitCode: VSUB_EXIT.tempDir, cause: err, fault: 'node' });
  }
  try {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o700, flag: 'wx' });
    return await use(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
