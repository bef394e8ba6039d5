import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSetup } from '../../src/admin/setup/index.js';
import { HOOK_NAMES, torqueHooks } from '../../src/torque/install/index.js';
import { makeFixture, ORIGINALS, printer, snapshot, type Fixture } from './fixture.js';

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(() => fx.cleanup());

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const world = (): unknown => ({
  prefix: snapshot(fx.prefix),
  momPriv: snapshot(fx.momPriv),
  config: snapshot(fx.configPath),
  profile: snapshot(fx.profileDir),
});

describe('vtorque setup install', () => {
  it('installs root-owned files with exact modes and links the hooks', async () => {
    const before = snapshot(fx.momPriv);
    const out = printer();
    expect(await runSetup(fx.options(), out.print, torqueHooks)).toBe(0);
    const lib = join(fx.prefix, 'lib', 'vtorque');

    for (const [rel, e] of Object.entries(snapshot(fx.prefix))) {
      expect({ rel, uid: e.uid, gid: e.gid }).toEqual({ rel, uid: 0, gid: 0 });
      expect({ rel, writable: e.mode & 0o022 }).toEqual({ rel, writable: 0 });
    }
    expect(statSync(join(lib, 'dist', 'vsub.mjs')).mode & 0o7777).toBe(0o444);
    expect(existsSync(join(lib, 'dist', 'hook.mjs.map'))).toBe(false);
    expect(statSync(join(lib, 'templates', 'hook-front.sh.hbs')).mode & 0o7777).toBe(0o444);
    expect(statSync(join(lib, 'templates-vm', 'fixture')).mode & 0o7777).toBe(0o555);
    expect(readFileSync(join(lib, 'package.json'), 'utf8').trim()).toBe('{"type":"module","private":true}');
    expect(statSync(join(lib, 'build', 'Release', 'libvirt.node')).mode & 0o7777).toBe(0o555);
    expect(existsSync(join(lib, 'node_modules'))).toBe(false);

    for (const name of HOOK_NAMES) {
      const hook = join(lib, 'hooks', name);
      expect(statSync(hook).mode & 0o7777).toBe(name === 'epilogue.precancel' ? 0o555 : 0o500);
      expect(readlinkSync(join(fx.momPriv, name))).toBe(hook);
      const target = statSync(join(fx.momPriv, name)); // what pbs_mom checks: stat through the link
      expect(target.isFile() && target.uid === 0 && (target.mode & 0o022) === 0).toBe(true);
    }
    for (const [name, o] of Object.entries(ORIGINALS)) {
      const orig = join(fx.momPriv, `${name}.orig`);
      expect(statSync(orig).mode & 0o7777).toBe(o.mode);
      expect(sha(orig)).toBe(before[name]?.sha256);
      expect(out.lines).toContain(`rename ${join(fx.momPriv, name)} -> ${name}.orig`);
    }
    expect(existsSync(join(fx.momPriv, 'prologue.parallel.orig'))).toBe(false);
    expect(readFileSync(join(fx.momPriv, 'config'), 'utf8')).toBe('$prologalarm 300\n');

    for (const name of ['vsub', 'vmgr', 'vtorque']) expect(statSync(join(fx.prefix, 'bin', name)).mode & 0o7777).toBe(0o555);
    expect(statSync(join(fx.profileDir, 'vtorque.sh')).mode & 0o7777).toBe(0o444);
    expect(statSync(fx.configPath).mode & 0o7777).toBe(0o644);
    expect(statSync(join(fx.root, 'etc', 'vtorque')).mode & 0o7777).toBe(0o755);
    const manifest = JSON.parse(readFileSync(join(lib, 'install-manifest.json'), 'utf8'));
    expect(manifest.config).toEqual({ path: fx.configPath, created: true, sha256: sha(fx.configPath) });
    expect(manifest.renames).toHaveLength(3);
    expect(manifest.dirs).toContain(join(fx.root, 'opt'));
  });

  it('changes nothing on a second install with the same options', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const first = world();
    const out = printer();
    expect(await runSetup(fx.options(), out.print, torqueHooks)).toBe(0);
    expect(world()).toEqual(first);
    expect(out.lines).toEqual([`vtorque setup: up to date (${fx.prefix})`]);
  });

  it('updates files in place from a newer source but never renames an .orig again', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const origs = snapshot(fx.momPriv);
    writeFileSync(join(fx.source, 'dist', 'vsub.mjs'), '// vsub bundle v2\n');
    const out = printer();
    await runSetup(fx.options(), out.print, torqueHooks);
    const vsub = join(fx.prefix, 'lib', 'vtorque', 'dist', 'vsub.mjs');
    expect(out.lines.filter((l) => !l.startsWith('vtorque setup:'))).toEqual([`install 0444 ${vsub}`]);
    expect(readFileSync(vsub, 'utf8')).toBe('// vsub bundle v2\n');
    expect(snapshot(fx.momPriv)).toEqual(origs);
  });

  it('repairs a drifted mode and removes files a newer source no longer has', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const lib = join(fx.prefix, 'lib', 'vtorque');
    chmodSync(join(lib, 'hooks', 'prologue'), 0o777);
    rmSync(join(fx.source, 'templates-vm', 'fixture'), { recursive: true });
    const out = printer();
    await runSetup(fx.options(), out.print, torqueHooks);
    expect(statSync(join(lib, 'hooks', 'prologue')).mode & 0o7777).toBe(0o500);
    expect(out.lines).toContain(`remove ${join(lib, 'templates-vm', 'fixture', 'meta-data.tmpl')}`);
    expect(existsSync(join(lib, 'templates-vm', 'fixture'))).toBe(false);
  });

  it('refuses to overwrite an existing .orig when the hook is not ours', async () => {
    writeFileSync(join(fx.momPriv, 'prologue.orig'), 'older site hook\n');
    await expect(runSetup(fx.options(), () => undefined, torqueHooks)).rejects.toThrow(/prologue.orig already exists/);
    expect(lstatSync(join(fx.momPriv, 'prologue')).isFile()).toBe(true);
  });

  it('refuses to front a hook that links to another vTorque install', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const other = fx.options({ prefix: join(fx.root, 'opt', 'other') });
    await expect(runSetup(other, () => undefined, torqueHooks)).rejects.toThrow(/links to another vTorque install .*uninstall that one first/);
  });

  it('keeps an existing config and installs hooks without mom_priv', async () => {
    mkdirSync(join(fx.root, 'etc', 'vtorque'));
    writeFileSync(fx.configPath, 'SITE: 1\n');
    const before = snapshot(fx.momPriv);
    await runSetup(fx.options({ momPriv: null }), () => undefined, torqueHooks);
    expect(readFileSync(fx.configPath, 'utf8')).toBe('SITE: 1\n');
    expect(snapshot(fx.momPriv)).toEqual(before);
    const hook = readFileSync(join(fx.prefix, 'lib', 'vtorque', 'hooks', 'prologue'), 'utf8');
    expect(hook).toContain(`orig=${join(fx.torqueHome, 'mom_priv', 'prologue.orig')}`);
  });
});
