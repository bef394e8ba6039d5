import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/site.js';

// Every installed executable is one of these bundles: each must load and answer (a bundle that
// throws at import time, e.g. on a CommonJS global missing in ESM, would break a whole role).
const node = (bundle: string, args: string[]) => spawnSync(process.execPath, [join(REPO, 'dist', bundle), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } });

describe('bundles', () => {
  it('vtorque and vmgr print their help', () => {
    expect(node('vtorque.mjs', ['--help']).status).toBe(0);
    expect(node('vmgr.mjs', ['--help']).status).toBe(0);
  });
  it('the hook bundle loads and refuses an unknown hook cleanly', () => {
    const r = node('hook.mjs', ['no-such-hook', '0']);
    expect(r.stderr).toMatch(/unknown hook/);
    expect(r.stderr).not.toMatch(/internal error/);
  });
  it('the job runner has its own bundle: it loads, needs PBS_JOBID, and holds no libvirt or root code', () => {
    const r = node('job-run.mjs', []);
    expect(r.stderr).toMatch(/PBS_JOBID is not set/);
    expect(r.stderr).not.toMatch(/internal error|ReferenceError/);
    const runner = readFileSync(join(REPO, 'dist', 'job-run.mjs'), 'utf8');
    // No libvirt addon, no image builder, no yargs CLI: ssh2, the config and the templates only.
    expect(runner).not.toMatch(/libvirt\.node|debootstrap|Not enough non-option/);
    expect(statSync(join(REPO, 'dist', 'job-run.mjs')).size).toBeLessThan(0.7 * statSync(join(REPO, 'dist', 'vtorque.mjs')).size);
  });
  it('vtorque job-run still runs the job of a wrapper written before the runner had its own bundle', () => {
    const r = node('vtorque.mjs', ['job-run']);
    expect(r.stderr).toMatch(/PBS_JOBID/);
    expect(r.stderr).not.toMatch(/internal error|ReferenceError/);
  });
});
