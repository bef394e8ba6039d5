import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/core/config/index.js';
import { REPO } from '../helpers/site.js';

// `vtorque setup --mom-priv` and the config's TORQUE_HOME must name the same pbs_mom: the hooks read
// its jobs (gc) and $prologalarm from TORQUE_HOME.
let root = '';
afterEach(() => rmSync(root, { recursive: true, force: true }));

function setup(extra: string[] = []): { status: number | null; stderr: string; paths: { momPriv: string; config: string } } {
  const momPriv = join(root, 'torque-ref', 'mom_priv');
  const config = join(root, 'etc', 'config.yaml');
  const r = spawnSync(process.execPath, [join(REPO, 'dist', 'vtorque.mjs'), 'setup', '--prefix', join(root, 'prefix'), '--mom-priv', momPriv, '--config', config, '--profile-dir', join(root, 'profile.d'), ...extra], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, paths: { momPriv, config } };
}

describe.skipIf(process.getuid?.() !== 0)('setup and TORQUE_HOME', () => {
  it('a new config gets the Torque home of --mom-priv; uninstall leaves it', () => {
    root = mkdtempSync(join(tmpdir(), 'vtq-th-'));
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'torque-ref', 'mom_priv', 'jobs'), { recursive: true });
    const r = setup();
    expect(r.status, r.stderr).toBe(0);
    const text = readFileSync(r.paths.config, 'utf8');
    expect(parseConfigText(text, r.paths.config).config.TORQUE_HOME).toBe(join(root, 'torque-ref'));
    expect(setup(['--uninstall']).status).toBe(0);
  });

  it('an existing config naming another Torque home is refused before anything changes, naming the fix', () => {
    root = mkdtempSync(join(tmpdir(), 'vtq-th-'));
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'torque-ref', 'mom_priv', 'jobs'), { recursive: true });
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'config.yaml'), 'TORQUE_HOME: /var/spool/torque\n');
    const r = setup();
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`has TORQUE_HOME: /var/spool/torque; set TORQUE_HOME: ${join(root, 'torque-ref')} there`);
    expect(existsSync(join(root, 'prefix'))).toBe(false);
  });
});
