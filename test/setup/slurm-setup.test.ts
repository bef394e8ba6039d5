import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runSetup } from '../../src/admin/setup/index.js';
import { slurmHooks } from '../../src/slurm/install/index.js';
import { makeFixture, type Fixture } from './fixture.js';

let fx: Fixture;
let hooks: string;
const spool = (): string => join(fx.root, 'spool');
const print: string[] = [];
beforeAll(async () => {
  fx = makeFixture();
  hooks = join(fx.prefix, 'lib', 'vtorque', 'hooks');
  writeFileSync(join(fx.source, 'dist', 'vsbatch.mjs'), '// vsbatch bundle\n');
  writeFileSync(join(fx.source, 'dist', 'slurm-hook.mjs'), '// slurm hook bundle\n');
  await runSetup(fx.options({ momPriv: null, spoolDir: spool(), timeouts: { prologue: 280, teardown: 60 } }), (l) => void print.push(l), slurmHooks);
});
afterAll(() => fx.cleanup());
beforeEach(() => rmSync(fx.marker, { force: true }));

/** A hook front as slurmd runs it: no argv, slurmd's environment only (slurm-hook-env-matrix.md). */
function hook(name: 'slurm-prolog' | 'slurm-epilog', env: Record<string, string>): number | null {
  const base = { SLURM_JOB_ID: '77', SLURM_JOB_UID: '1001', SLURM_JOB_GID: '1001', SLURM_JOB_USER: 'alice', SLURMD_NODENAME: 'n1', SLURM_NODELIST: 'n1', SLURM_SCRIPT_CONTEXT: name === 'slurm-prolog' ? 'prolog_slurmd' : 'epilog_slurmd' };
  return spawnSync(join(hooks, name), [], { stdio: 'ignore', env: { ...base, ...env } }).status;
}
const nodeArgs = (): string[] => readFileSync(fx.marker, 'utf8').split('\n').slice(0, -1);

describe('vtorque setup --slurm', () => {
  it('installs the two fronts, the slurm.conf include and vsbatch; links nothing, and says the one line to add', () => {
    expect(readdirSync(hooks).sort()).toEqual(['slurm-epilog', 'slurm-prolog', 'slurm.conf']);
    for (const f of ['slurm-prolog', 'slurm-epilog']) {
      expect(statSync(join(hooks, f)).mode & 0o7777).toBe(0o500);
      expect(spawnSync('sh', ['-n', join(hooks, f)]).status).toBe(0);
    }
    const include = readFileSync(join(hooks, 'slurm.conf'), 'utf8');
    expect(include.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([
      `Prolog=${join(hooks, 'slurm-prolog')}`,
      `Epilog=${join(hooks, 'slurm-epilog')}`,
      'PrologFlags=Alloc',
      'PrologEpilogTimeout=310',
    ]);
    expect(existsSync(join(fx.prefix, 'bin', 'vsbatch'))).toBe(true);
    expect(readdirSync(fx.momPriv).sort()).toEqual(['config', 'epilogue', 'epilogue.precancel', 'jobs', 'prologue']);
    expect(print).toContain(`slurm: add to slurm.conf on every node and the controller: Include ${join(hooks, 'slurm.conf')}   (then: scontrol reconfigure; check: vtorque doctor --slurm)`);
  });

  it('Prolog front: a plain job never starts Node; a comment starting with the marker does, with slurmd\'s environment', () => {
    expect(hook('slurm-prolog', {})).toBe(0);
    expect(hook('slurm-prolog', { SLURM_JOB_COMMENT: 'my vtorque-vm notes' })).toBe(0);
    expect(existsSync(fx.marker)).toBe(false);
    expect(hook('slurm-prolog', { SLURM_JOB_COMMENT: 'vtorque-vm mine' })).toBe(0);
    expect(nodeArgs()).toEqual([join(fx.prefix, 'lib', 'vtorque', 'dist', 'slurm-hook.mjs'), 'prolog']);
  });

  it("Epilog front: Node only for a job with root's record or state dir on this node", () => {
    expect(hook('slurm-epilog', { SLURM_JOB_COMMENT: 'vtorque-vm' })).toBe(0);
    expect(existsSync(fx.marker)).toBe(false);
    mkdirSync(join(spool(), 'records'), { recursive: true });
    writeFileSync(join(spool(), 'records', '77.json'), '{}');
    expect(hook('slurm-epilog', {})).toBe(0);
    expect(nodeArgs()).toEqual([join(fx.prefix, 'lib', 'vtorque', 'dist', 'slurm-hook.mjs'), 'epilog']);
    rmSync(fx.marker);
    rmSync(join(spool(), 'records'), { recursive: true });
    mkdirSync(join(spool(), 'jobs', '77'), { recursive: true });
    expect(hook('slurm-epilog', {})).toBe(0);
    expect(existsSync(fx.marker)).toBe(true);
    rmSync(fx.marker);
    expect(hook('slurm-epilog', { SLURM_JOB_ID: '77/../x' })).toBe(0);
    expect(existsSync(fx.marker)).toBe(false);
  });

  it('uninstall takes away everything it wrote', async () => {
    await runSetup(fx.options({ momPriv: null, uninstall: true, spoolDir: spool() }), () => undefined, slurmHooks);
    expect(existsSync(join(fx.prefix, 'lib'))).toBe(false);
    expect(existsSync(join(fx.prefix, 'bin', 'vsbatch'))).toBe(false);
  });
});
