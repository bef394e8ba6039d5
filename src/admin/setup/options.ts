import { dirname, isAbsolute, normalize } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../../core/config/index.js';
import { VtorqueError } from '../../core/errors.js';
import { appLayout } from '../../core/install/paths.js';

export interface SetupOptions {
  /** Absolute install prefix, e.g. /opt/vtorque. */
  prefix: string;
  /** Torque mom_priv dir to link hooks into (null = skip hooks linking). */
  momPriv: string | null;
  uninstall: boolean;
  dryRun: boolean;
  configPath: string;
  profileDir: string;
  /** App root to install from: a checkout with dist/ and build/Release/libvirt.node built, templates/, templates-vm/. */
  sourceRoot: string;
  /** Absolute node binary baked into the shims and hook fronts. */
  nodePath: string;
  /** The hook fronts read job scripts from `<torqueHome>/mom_priv/jobs`. */
  torqueHome: string;
  /** The site's SPOOL_DIR (the precancel front drops cancel markers in `<spoolDir>/cancel`); default /var/spool/vtorque. */
  spoolDir?: string;
  /** The site's PROLOGUE_TIMEOUT and TEARDOWN_TIMEOUT (a Slurm include's PrologEpilogTimeout follows them); default the schema's. */
  timeouts?: { prologue: number; teardown: number };
}

export const DEFAULT_PROFILE_DIR = '/etc/profile.d';
export const DEFAULT_TORQUE_HOME = '/var/spool/torque';

/** What a caller (the CLI) may leave out; everything else gets the documented default. */
export type SetupOptionsInput = Pick<SetupOptions, 'prefix'> & Partial<Omit<SetupOptions, 'prefix'>>;

export function resolveSetupOptions(input: SetupOptionsInput): SetupOptions {
  const momPriv = input.momPriv ?? null;
  return {
    prefix: input.prefix,
    momPriv,
    uninstall: input.uninstall ?? false,
    dryRun: input.dryRun ?? false,
    configPath: input.configPath ?? DEFAULT_CONFIG_PATH,
    profileDir: input.profileDir ?? DEFAULT_PROFILE_DIR,
    sourceRoot: input.sourceRoot ?? appLayout().root,
    nodePath: input.nodePath ?? process.execPath,
    torqueHome: input.torqueHome ?? (momPriv === null ? DEFAULT_TORQUE_HOME : dirname(momPriv)),
  };
}

const PATH_OPTIONS = ['prefix', 'configPath', 'profileDir', 'sourceRoot', 'nodePath', 'torqueHome', 'momPriv'] as const;

const OPTION_FLAGS: Record<(typeof PATH_OPTIONS)[number], string> = {
  prefix: '--prefix',
  configPath: '--config',
  profileDir: '--profile-dir',
  sourceRoot: 'the source root',
  nodePath: 'the node binary path',
  torqueHome: '--torque-home',
  momPriv: '--mom-priv',
};

/**
 * Refusals that need no file system: who runs it and whether every path is absolute and plain.
 * `euid` comes in as a parameter so this stays testable without switching users.
 */
export function checkPreconditions(options: SetupOptions, euid: number): void {
  if (euid !== 0 && !options.dryRun) {
    throw new VtorqueError(
      'PERMISSION',
      'vtorque setup must run as root: it installs root-owned hooks (try: sudo vtorque setup …, or --dry-run to preview)',
      { fault: 'job' },
    );
  }
  for (const key of PATH_OPTIONS) {
    const value = options[key];
    if (value === null) continue;
    if (!isPlainAbsolute(value)) {
      throw new VtorqueError(
        'USAGE',
        `${OPTION_FLAGS[key]} must be an absolute path without '..' or control characters (got ${JSON.stringify(value)})`,
        { fault: 'job' },
      );
    }
  }
}

/** Absolute, no `..` element, no control characters; trailing slashes and `//` are tolerated. */
export function isPlainAbsolute(path: string): boolean {
  if (!isAbsolute(path) || /[\0-\x1f\x7f]/.test(path)) return false;
  if (path.split('/').includes('..')) return false;
  return normalize(path) !== '';
}

/** The same path without trailing or doubled slashes, so manifests and links compare exactly. */
export function normalizeSetupPaths(options: SetupOptions): SetupOptions {
  const clean = (p: string): string => (p === '/' ? p : normalize(p).replace(/\/+$/, ''));
  return {
    ...options,
    prefix: clean(options.prefix),
    momPriv: options.momPriv === null ? null : clean(options.momPriv),
    configPath: clean(options.configPath),
    profileDir: clean(options.profileDir),
    sourceRoot: clean(options.sourceRoot),
    nodePath: clean(options.nodePath),
    torqueHome: clean(options.torqueHome),
  };
}
