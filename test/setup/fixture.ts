import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SetupOptions } from '../../src/admin/setup/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One throw-away world per test: a built source root, a mom_priv with site hooks, /etc, a prefix. */
export interface Fixture {
  root: string;
  source: string;
  prefix: string;
  torqueHome: string;
  momPriv: string;
  configPath: string;
  profileDir: string;
  /** A fake `node` that records its argv, one per line, in `marker`. */
  nodePath: string;
  marker: string;
  options(overrides?: Partial<SetupOptions>): SetupOptions;
  cleanup(): void;
}

export const ORIGINALS = {
  prologue: { mode: 0o700, text: '#!/bin/sh\n# site prologue\nexit 3\n' },
  epilogue: { mode: 0o500, text: '#!/bin/sh\n# site epilogue\nexit 4\n' },
  'epilogue.precancel': { mode: 0o555, text: '#!/bin/sh\nexit 0\n' },
} as const;

function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

export function makeFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'vtq-setup-'));
  const source = join(root, 'src');
  for (const name of ['vsub', 'vmgr', 'vtorque', 'hook', 'job-run']) write(join(source, 'dist', `${name}.mjs`), `// ${name} bundle\n`);
  write(join(source, 'dist', 'hook.mjs.map'), '{}'); // not a bundle: not installed
  cpSync(join(REPO, 'templates'), join(source, 'templates'), { recursive: true });
  cpSync(join(REPO, 'templates-vm'), join(source, 'templates-vm'), { recursive: true });
  write(join(source, 'templates-vm', 'fixture', 'meta-data.tmpl'), 'instance-id: {{id}}\n');
  write(join(source, 'build', 'Release', 'libvirt.node'), 'ELF', 0o775);

  const torqueHome = join(root, 'torque');
  const momPriv = join(torqueHome, 'mom_priv');
  mkdirSync(join(momPriv, 'jobs'), { recursive: true });
  chmodSync(momPriv, 0o751);
  for (const [name, o] of Object.entries(ORIGINALS)) write(join(momPriv, name), o.text, o.mode);
  write(join(momPriv, 'config'), '$prologalarm 300\n', 0o644);

  const profileDir = join(root, 'etc', 'profile.d');
  mkdirSync(profileDir, { recursive: true });
  const marker = join(root, 'node-ran');
  const nodePath = join(root, 'fake-node');
  write(nodePath, `#!/bin/sh\nprintf '%s\\n' "$@" > '${marker}'\nexit 0\n`, 0o755);
  const base = {
    root, source, prefix: join(root, 'opt', 'vtorque'), torqueHome, momPriv,
    configPath: join(root, 'etc', 'vtorque', 'config.yaml'), profileDir, nodePath, marker,
  };
  return {
    ...base,
    options: (overrides = {}) => ({
      prefix: base.prefix, momPriv, uninstall: false, dryRun: false, configPath: base.configPath,
      profileDir, sourceRoot: source, nodePath, torqueHome, ...overrides,
    }),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface Entry {
  type: 'file' | 'dir' | 'link' | 'other';
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  target?: string;
}

/** Every entry below `dir` (and `dir` itself as '.'), never following links. */
export function snapshot(dir: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  if (!existsSync(dir)) return out;
  const visit = (path: string): void => {
    const st = lstatSync(path);
    const rel = relative(dir, path) || '.';
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isSymbolicLink()) out[rel] = { type: 'link', ...base, target: readlinkSync(path) };
    else if (st.isFile()) out[rel] = { type: 'file', ...base, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
    else if (st.isDirectory()) {
      out[rel] = { type: 'dir', ...base };
      for (const name of readdirSync(path).sort()) visit(join(path, name));
    } else out[rel] = { type: 'other', ...base };
  };
  visit(dir);
  return out;
}

/** Collects printed lines. */
export function printer(): { lines: string[]; print: (line: string) => void } {
  const lines: string[] = [];
  return { lines, print: (line) => lines.push(line) };
}
