import { lstatSync, readFileSync } from 'node:fs';
import { normalize } from 'node:path';
import { UnsafePathError, VtorqueError } from '../../core/errors.js';
import type { ManifestLink, ManifestRename } from '../../core/install/hook-links.js';

export type { ManifestLink, ManifestRename } from '../../core/install/hook-links.js';

export interface ManifestConfig {
  path: string;
  created: boolean;
  /** sha256 of what setup wrote, when it created the file. */
  sha256: string | null;
}

/** Everything one install created, so uninstall removes exactly that and nothing else. */
export interface Manifest {
  version: 1;
  prefix: string;
  momPriv: string | null;
  /** Regular files under the prefix that setup wrote (the manifest itself not included). */
  files: string[];
  /** Directories setup created (or owns, under lib/vtorque); removed when empty, deepest first. */
  dirs: string[];
  links: ManifestLink[];
  renames: ManifestRename[];
  profile: string;
  config: ManifestConfig;
}

/** Stable bytes: sorted lists, fixed key order, no timestamps, so a repeated install is a no-op. */
export function serializeManifest(m: Manifest): string {
  const byPath = <T extends { path?: string; from?: string }>(a: T, b: T): number =>
    (a.path ?? a.from ?? '').localeCompare(b.path ?? b.from ?? '');
  const ordered: Manifest = {
    version: 1,
    prefix: m.prefix,
    momPriv: m.momPriv,
    files: [...new Set(m.files)].sort(),
    dirs: [...new Set(m.dirs)].sort(),
    links: [...m.links].sort(byPath).map((l) => ({ path: l.path, target: l.target })),
    renames: [...m.renames].sort(byPath).map((r) => ({ from: r.from, to: r.to })),
    profile: m.profile,
    config: { path: m.config.path, created: m.config.created, sha256: m.config.sha256 },
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

export function parseManifest(text: string, source: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new VtorqueError('INTERNAL', `${source}: the install manifest is not valid JSON`, { cause: err, fault: 'node' });
  }
  const bad = (what: string): never => {
    throw new VtorqueError('INTERNAL', `${source}: the install manifest is damaged: ${what}`, { fault: 'node' });
  };
  const m = raw as Partial<Manifest> | null;
  if (m === null || typeof m !== 'object' || m.version !== 1) return bad('version is not 1');
  const path = (v: unknown, what: string): string =>
    typeof v === 'string' && v.startsWith('/') && normalize(v) === v && !v.split('/').includes('..') ? v : bad(`${what} ${JSON.stringify(v)} is not a plain absolute path`);
  const paths = (v: unknown, what: string): string[] => (Array.isArray(v) ? v.map((p) => path(p, what)) : bad(`${what} is not a list`));
  const objects = (v: unknown, what: string): Record<string, unknown>[] => (Array.isArray(v) ? (v as Record<string, unknown>[]) : bad(`${what} is not a list`));
  const config = (m.config ?? bad('config missing')) as unknown as Record<string, unknown>;
  const sha = config.sha256;
  return {
    version: 1,
    prefix: path(m.prefix, 'prefix'),
    momPriv: m.momPriv === null ? null : path(m.momPriv, 'momPriv'),
    files: paths(m.files, 'files'),
    dirs: paths(m.dirs, 'dirs'),
    links: objects(m.links, 'links').map((l) => ({ path: path(l.path, 'link'), target: path(l.target, 'link target') })),
    renames: objects(m.renames, 'renames').map((r) => ({ from: path(r.from, 'rename'), to: path(r.to, 'rename') })),
    profile: path(m.profile, 'profile'),
    config: {
      path: path(config.path, 'config path'),
      created: config.created === true,
      sha256: typeof sha === 'string' && /^[0-9a-f]{64}$/.test(sha) ? sha : null,
    },
  };
}

/**
 * The manifest of a previous install, or null when there is none. It decides what root deletes,
 * so it is trusted only as a root-owned regular file nobody else can write.
 */
export function readManifest(path: string): Manifest | null {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new VtorqueError('INTERNAL', `${path}: cannot stat the install manifest`, { cause: err, fault: 'node' });
  }
  if (!st.isFile()) throw new UnsafePathError(path, 'the install manifest is not a regular file', { fault: 'node' });
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new UnsafePathError(path, 'the install manifest must be owned by root and not group/other-writable', { fault: 'node' });
  }
  return parseManifest(readFileSync(path, 'utf8'), path);
}
