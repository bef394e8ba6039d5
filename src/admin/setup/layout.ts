import { basename, dirname, join } from 'node:path';


/** The commands put on PATH, each a shim over `dist/<name>.mjs`. */
export const BIN_NAMES = ['vsub', 'vmgr', 'vtorque'] as const;

export const MANIFEST_NAME = 'install-manifest.json';
export const PROFILE_NAME = 'vtorque.sh';

/** Where everything lives under one install prefix. */
export interface InstallLayout {
  readonly prefix: string;
  readonly binDir: string;
  /** The app root copy; every directory at or below it belongs to vTorque. */
  readonly libDir: string;
  readonly distDir: string;
  readonly hooksDir: string;
  readonly hookBundle: string;
  readonly manifestPath: string;
}

export function installLayout(prefix: string): InstallLayout {
  const libDir = join(prefix, 'lib', 'vtorque');
  return {
    prefix,
    binDir: join(prefix, 'bin'),
    libDir,
    distDir: join(libDir, 'dist'),
    hooksDir: join(libDir, 'hooks'),
    hookBundle: join(libDir, 'dist', 'hook.mjs'),
    manifestPath: join(libDir, MANIFEST_NAME),
  };
}


export { isInside } from '../../core/install/hook-links.js';

/** Every ancestor of an absolute path, nearest first, ending at `/`. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    out.push(dir);
    if (dir === dirname(dir)) return out;
  }
}

/** `rename /a/b/prologue -> prologue.orig`: the destination shown short when it stays in the same dir. */
export function shortTarget(from: string, to: string): string {
  return dirname(from) === dirname(to) ? basename(to) : to;
}
