import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRenderer } from '../../src/core/render/index.js';
import { HOOK_NAMES, hookFrontVars, renderHookFront, runSetup } from '../../src/admin/setup/index.js';
import { makeFixture, type Fixture } from './fixture.js';

let fx: Fixture;
let lib: string;
// One install for the whole file: these tests only run the installed scripts.
beforeAll(async () => {
  fx = makeFixture();
  lib = join(fx.prefix, 'lib', 'vtorque');
  await runSetup(fx.options(), () => undefined);
});
afterAll(() => fx.cleanup());
beforeEach(() => rmSync(fx.marker, { force: true }));

function jobScript(name: string, vm: boolean): string {
  const path = join(fx.momPriv, 'jobs', name);
  writeFileSync(path, vm ? '#!/bin/sh\n#VTORQUE-REQUEST v1 eyJ2IjoxfQ\nhostname\n' : '#!/bin/sh\n#PBS -l nodes=1\nhostname\n');
  return path;
}

function run(file: string, args: string[]): number | null {
  return spawnSync(file, args, { stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } }).status;
}

const nodeArgs = (): string[] => readFileSync(fx.marker, 'utf8').split('\n').slice(0, -1);
const prologueArgv = (script: string): string[] => ['12.host', 'alice', 'alice', 'job', '', '', '', script];

describe('installed hook fronts', () => {
  it('are valid sh', () => {
    for (const name of HOOK_NAMES) expect(spawnSync('sh', ['-n', join(lib, 'hooks', name)]).status).toBe(0);
  });

  it('prologue: keeps the .orig verdict and never starts node for a plain job', () => {
    const argv = prologueArgv(jobScript('12.host.SC', false));
    expect(run(join(fx.momPriv, 'prologue'), argv)).toBe(3); // prologue.orig exits 3
    expect(existsSync(fx.marker)).toBe(false);
  });

  it('prologue: a failing .orig aborts even a VM job before node', () => {
    expect(run(join(fx.momPriv, 'prologue'), prologueArgv(jobScript('12.host.SC', true)))).toBe(3);
    expect(existsSync(fx.marker)).toBe(false);
  });

  it('epilogue: a VM job goes to node with hook name, the .orig exit code and the original argv', () => {
    const argv = ['12.host', 'alice', 'alice', 'job', '77', 'ncpus=1', 'cput=0', 'batch', '', '0', jobScript('12.host.SC', true)];
    expect(run(join(fx.momPriv, 'epilogue'), argv)).toBe(0); // the fake node's exit code
    expect(nodeArgs()).toEqual([join(lib, 'dist', 'hook.mjs'), 'epilogue', '4', ...argv]);
  });

  it('prologue.parallel (no .orig): finds the job script in the jobs dir when argv is short', () => {
    jobScript('42.host.SC', true);
    expect(run(join(fx.momPriv, 'prologue.parallel'), ['42.host'])).toBe(0);
    expect(nodeArgs()).toEqual([join(lib, 'dist', 'hook.mjs'), 'prologue.parallel', '0', '42.host']);
  });
});

describe('rendered prologue front', () => {
  it('runs node for a VM job when the .orig succeeds', () => {
    const orig = join(fx.root, 'site-prologue');
    writeFileSync(orig, '#!/bin/sh\nexit 0\n');
    chmodSync(orig, 0o700);
    const vars = hookFrontVars('prologue', { momPriv: fx.momPriv, torqueHome: fx.torqueHome, nodePath: fx.nodePath, hookBundle: '/b/hook.mjs', spoolDir: join(fx.root, 'spool') });
    const front = join(fx.root, 'front.sh');
    writeFileSync(front, renderHookFront(createRenderer(join(fx.source, 'templates')), { ...vars, origPath: orig }));
    chmodSync(front, 0o700);
    expect(spawnSync('sh', ['-n', front]).status).toBe(0);

    const argv = prologueArgv(jobScript('13.host.SC', true));
    expect(run(front, argv)).toBe(0);
    expect(nodeArgs()).toEqual(['/b/hook.mjs', 'prologue', '0', ...argv]);
  });
});

describe('rendered precancel front', () => {
  it('drops a cancel marker named by the job id, never starts node, keeps the .orig verdict', () => {
    const spool = join(fx.root, 'spool-precancel');
    const vars = hookFrontVars('epilogue.precancel', { momPriv: fx.momPriv, torqueHome: fx.torqueHome, nodePath: fx.nodePath, hookBundle: '/b/hook.mjs', spoolDir: spool });
    const front = join(fx.root, 'precancel.sh');
    writeFileSync(front, renderHookFront(createRenderer(join(fx.source, 'templates')), { ...vars, origPath: join(fx.root, 'no-orig') }));
    chmodSync(front, 0o755);
    const argv = ['77.host', 'alice', 'alice', 'job', '0', 'nodes=1', '', 'batch', '', '0', join(fx.momPriv, 'jobs', '77.host.SC')];
    expect(run(front, argv)).toBe(0); // no cancel dir yet: nothing written
    expect(existsSync(join(spool, 'cancel', '77.host'))).toBe(false);
    mkdirSync(join(spool, 'cancel'), { recursive: true, mode: 0o1733 });
    expect(run(front, argv)).toBe(0);
    expect(existsSync(join(spool, 'cancel', '77.host'))).toBe(true);
    expect(run(front, ['../evil', ...argv.slice(1)])).toBe(0);
    expect(existsSync(join(spool, 'evil'))).toBe(false);
    expect(existsSync(fx.marker)).toBe(false);
  });
});

describe('shims and profile snippet', () => {
  it('bin shims exec the bundle with the baked node and pass arguments intact', () => {
    expect(run(join(fx.prefix, 'bin', 'vsub'), ['-vm', 'img=a b', "it's"])).toBe(0);
    expect(nodeArgs()).toEqual([join(lib, 'dist', 'vsub.mjs'), '-vm', 'img=a b', "it's"]);
  });

  it('the profile snippet adds the bin dir to PATH once', () => {
    const snippet = join(fx.profileDir, 'vtorque.sh');
    const r = spawnSync('sh', ['-c', `. '${snippet}'; . '${snippet}'; printf %s "$PATH"`], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(r.stdout).toBe(`/usr/bin:/bin:${join(fx.prefix, 'bin')}`);
  });
});
