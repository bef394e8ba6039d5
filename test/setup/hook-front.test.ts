import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRenderer } from '../../src/core/render/index.js';
import { runSetup } from '../../src/admin/setup/index.js';
import { HOOK_NAMES, hookFrontVars, renderHookFront, torqueHooks } from '../../src/torque/install/index.js';
import { makeFixture, type Fixture } from './fixture.js';

let fx: Fixture;
let lib: string;
// One install for the whole file: these tests only run the installed scripts.
beforeAll(async () => {
  fx = makeFixture();
  lib = join(fx.prefix, 'lib', 'vtorque');
  await runSetup(fx.options(), () => undefined, torqueHooks);
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

  it('epilogue: the .SC decides nothing: a request line there without root\'s record or state dir is a plain job', () => {
    const argv = ['12.host', 'alice', 'alice', 'job', '77', 'ncpus=1', 'cput=0', 'batch', '', '0', jobScript('12.host.SC', true)];
    expect(run(join(fx.momPriv, 'epilogue'), argv)).toBe(4); // epilogue.orig's verdict, node never started
    expect(existsSync(fx.marker)).toBe(false);
  });

  it('prologue.parallel never starts node, even for a VM job (the mother superior boots every VM)', () => {
    jobScript('42.host.SC', true);
    expect(run(join(fx.momPriv, 'prologue.parallel'), ['42.host'])).toBe(0);
    expect(existsSync(fx.marker)).toBe(false);
  });
});

/** A front rendered with its own spool dir (the installed ones use /var/spool/vtorque). */
function renderedFront(hook: Parameters<typeof hookFrontVars>[0], spool: string, orig: string | null): string {
  const vars = hookFrontVars(hook, { hookDir: fx.momPriv, schedulerHome: fx.torqueHome, nodePath: fx.nodePath, hookBundle: '/b/hook.mjs', spoolDir: spool });
  const front = join(fx.root, `${hook}-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(front, renderHookFront(createRenderer(join(fx.source, 'templates')), { ...vars, origPath: orig ?? join(fx.root, 'no-orig') }));
  chmodSync(front, 0o755);
  expect(spawnSync('sh', ['-n', front]).status).toBe(0);
  return front;
}

describe('rendered prologue front: bounded look at the .SC', () => {
  it('a sparse 8 GiB first line is not read: plain job, at once; a request on line 2 still goes to node', () => {
    const orig = join(fx.root, 'ok-prologue');
    writeFileSync(orig, '#!/bin/sh\nexit 0\n', { mode: 0o700 });
    const front = renderedFront('prologue', join(fx.root, 'spool-pro'), orig);
    const sc = join(fx.momPriv, 'jobs', '31.host.SC');
    writeFileSync(sc, '#!/bin/sh ');
    spawnSync('truncate', ['-s', '8G', sc]);
    const t0 = performance.now();
    expect(run(front, prologueArgv(sc))).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(existsSync(fx.marker)).toBe(false);
    // A request line beyond the bounded prefix is not a VM job (vsub's line 1 is short).
    writeFileSync(sc, `#!/bin/sh ${'x'.repeat(300)}\n#VTORQUE-REQUEST v1 eyJ2IjoxfQ\n`);
    expect(run(front, prologueArgv(sc))).toBe(0);
    expect(existsSync(fx.marker)).toBe(false);
    writeFileSync(sc, '#!/bin/sh\n#VTORQUE-REQUEST v1 eyJ2IjoxfQ\nhostname\n');
    expect(run(front, prologueArgv(sc))).toBe(0);
    expect(nodeArgs()).toEqual(['/b/hook.mjs', 'prologue', '0', ...prologueArgv(sc)]);
    rmSync(sc);
  });
});

describe('rendered epilogue front', () => {
  const epArgv = (id: string): string[] => [id, 'alice', 'alice', 'job', '77', 'ncpus=1', 'cput=0', 'batch', '', '0', join(fx.momPriv, 'jobs', `${id}.SC`)];
  it('goes to node for a job with root\'s record or state dir, with hook name, the .orig exit code and the original argv', () => {
    const spool = join(fx.root, 'spool-ep');
    for (const hook of ['epilogue', 'epilogue.parallel'] as const) {
      const front = renderedFront(hook, spool, null);
      expect(run(front, epArgv('21.host'))).toBe(0);
      expect(existsSync(fx.marker)).toBe(false);
      mkdirSync(join(spool, 'records'), { recursive: true });
      writeFileSync(join(spool, 'records', '21.host.json'), '{}');
      expect(run(front, epArgv('21.host'))).toBe(0);
      expect(nodeArgs()).toEqual(['/b/hook.mjs', hook, '0', ...epArgv('21.host')]);
      rmSync(fx.marker);
      mkdirSync(join(spool, 'jobs', '22.host'), { recursive: true });
      expect(run(front, epArgv('22.host'))).toBe(0);
      expect(nodeArgs()[3]).toBe('22.host');
      rmSync(fx.marker);
      rmSync(join(spool, 'records'), { recursive: true });
    }
  });

  it('never reads the .SC: a sparse 8 GiB first line costs nothing', () => {
    const sc = join(fx.momPriv, 'jobs', '23.host.SC');
    writeFileSync(sc, '');
    spawnSync('truncate', ['-s', '8G', sc]);
    const front = renderedFront('epilogue', join(fx.root, 'spool-ep2'), null);
    const t0 = performance.now();
    expect(run(front, epArgv('23.host'))).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
    rmSync(sc);
  });
});

describe('rendered prologue front', () => {
  it('runs node for a VM job when the .orig succeeds', () => {
    const orig = join(fx.root, 'site-prologue');
    writeFileSync(orig, '#!/bin/sh\nexit 0\n');
    chmodSync(orig, 0o700);
    const vars = hookFrontVars('prologue', { hookDir: fx.momPriv, schedulerHome: fx.torqueHome, nodePath: fx.nodePath, hookBundle: '/b/hook.mjs', spoolDir: join(fx.root, 'spool') });
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
  it('makes the marker only in the job\'s own cancel directory, never starts node, keeps the .orig verdict', () => {
    const spool = join(fx.root, 'spool-precancel');
    const orig = join(fx.root, 'precancel-orig');
    writeFileSync(orig, '#!/bin/sh\nexit 5\n', { mode: 0o755 });
    const front = renderedFront('epilogue.precancel', spool, orig);
    const argv = (id: string): string[] => [id, 'alice', 'alice', 'job', '0', 'nodes=1', '', 'batch', '', '0', join(fx.momPriv, 'jobs', `${id}.SC`)];
    expect(run(front, argv('77.host'))).toBe(5); // no cancel dir (a plain job): nothing made, the verdict kept
    expect(existsSync(join(spool, 'cancel'))).toBe(false);
    mkdirSync(join(spool, 'cancel', '77.host'), { recursive: true });
    mkdirSync(join(spool, 'cancel', '12_3_.srv'), { recursive: true });
    expect(run(front, argv('77.host'))).toBe(5);
    expect(statSync(join(spool, 'cancel', '77.host', 'requested')).isDirectory()).toBe(true);
    expect(run(front, argv('77.host'))).toBe(5); // again: the marker exists, nothing changes
    expect(run(front, argv('12[3].srv'))).toBe(5); // an array job id maps as the start names it
    expect(existsSync(join(spool, 'cancel', '12_3_.srv', 'requested'))).toBe(true);
    for (const bad of ['../evil', '.hidden', '7/../../x', '7;touch x', '']) expect(run(front, argv(bad))).toBe(5);
    expect(readdirSync(join(spool, 'cancel')).sort()).toEqual(['12_3_.srv', '77.host']);
    expect(existsSync(fx.marker)).toBe(false);
  });

  it('a FIFO, a symlink or a file where the marker goes neither blocks nor is followed', () => {
    const spool = join(fx.root, 'spool-precancel2');
    const front = renderedFront('epilogue.precancel', spool, null);
    const dir = join(spool, 'cancel', '78.host');
    mkdirSync(dir, { recursive: true });
    spawnSync('mkfifo', [join(dir, 'requested')]);
    const t0 = performance.now();
    expect(run(front, ['78.host', 'alice', 'alice', 'job', '0', '', '', 'batch', '', '0', 'x'])).toBe(0);
    expect(performance.now() - t0).toBeLessThan(2000);
    rmSync(join(dir, 'requested'));
    const victim = join(fx.root, 'victim');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(dir, 'requested'));
    expect(run(front, ['78.host', 'alice', 'alice', 'job', '0', '', '', 'batch', '', '0', 'x'])).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
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
