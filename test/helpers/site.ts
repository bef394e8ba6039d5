import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';

export const REPO = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');

/** A throw-away site: config, image pool with one image, a stub qsub, a working dir and TMPDIR. */
export interface TestSite {
  dir: string;
  configPath: string;
  pool: string;
  qsub: string;
  cwd: string;
  tmp: string;
  writeConfig(overrides: Record<string, unknown>): void;
}

export function makeSite(overrides: Record<string, unknown> = {}): TestSite {
  const dir = mkdtempSync(join(tmpdir(), 'vtq-site-'));
  const pool = join(dir, 'pool');
  const cwd = join(dir, 'work');
  const tmp = join(dir, 'tmp');
  for (const d of [pool, cwd, tmp]) mkdirSync(d);
  writeFileSync(join(pool, 'debian-12-x86_64.qcow2'), 'not really an image');
  writeFileSync(join(pool, 'centos-7.img'), 'x');
  const qsub = join(dir, 'qsub');
  // Records its argv (one per line) and stdin, prints a job id, exits with $STUB_RC (default 0).
  writeFileSync(
    qsub,
    `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${dir}/qsub.argv"\ncat > "${dir}/qsub.stdin"\nlast=""; for a in "$@"; do last="$a"; done\n[ -f "$last" ] && cp "$last" "${dir}/qsub.script"\necho 42.testserver\nexit \${STUB_RC:-0}\n`,
    { mode: 0o755 },
  );
  const configPath = join(dir, 'config.yaml');
  const site: TestSite = {
    dir,
    configPath,
    pool,
    qsub,
    cwd,
    tmp,
    writeConfig(more) {
      const base = {
        PBS_QSUB_ON_NODES: qsub,
        PBS_QSUB_ON_FE: qsub,
        VM_IMG_DIR: pool,
        VCPUS_DEFAULT: 1,
        RAM_DEFAULT: '512M',
        TORQUE_HOME: join(dir, 'torque'),
        ...overrides,
        ...more,
      };
      writeFileSync(configPath, yaml.dump(base));
    },
  };
  site.writeConfig({});
  return site;
}
