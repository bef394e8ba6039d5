import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Directories searched after PATH: root's tools live in sbin, which a non-login PATH may lack. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/**
 * The absolute path of an executable, looked up like a shell would (PATH, then the sbin
 * directories), or null. `name` containing a slash is checked as given.
 */
export function findExecutable(name: string, path: string = process.env.PATH ?? ''): string | null {
  const candidates = name.includes('/')
    ? [name]
    : [...path.split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS].map((dir) => join(dir, name));
  for (const file of candidates) {
    try {
      if (!statSync(file).isFile()) continue;
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  return null;
}
