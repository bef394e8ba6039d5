import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VtorqueError } from '../../src/core/errors.js';
import { runSetup } from '../../src/admin/setup/index.js';
import { torqueHooks } from '../../src/torque/install/index.js';
import { makeFixture, printer, snapshot, type Fixture } from './fixture.js';

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(() => fx.cleanup());

describe('vtorque setup --uninstall', () => {
  it('restores mom_priv byte for byte and mode for mode and removes everything it created', async () => {
    const momBefore = snapshot(fx.momPriv);
    const profileBefore = snapshot(fx.profileDir);
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const out = printer();
    expect(await runSetup(fx.options({ uninstall: true }), out.print, torqueHooks)).toBe(0);
    expect(snapshot(fx.momPriv)).toEqual(momBefore);
    expect(snapshot(fx.profileDir)).toEqual(profileBefore);
    expect(existsSync(fx.prefix)).toBe(false);
    expect(existsSync(join(fx.root, 'opt'))).toBe(false); // created by setup, empty again
    expect(existsSync(fx.configPath)).toBe(false);
    expect(existsSync(join(fx.root, 'etc', 'vtorque'))).toBe(false);
    expect(out.lines).toContain(`rename ${join(fx.momPriv, 'prologue.orig')} -> prologue`);
    expect(out.lines).toContain(`remove ${join(fx.momPriv, 'prologue')}`);
  });

  it('keeps a config the admin edited, and says so', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    writeFileSync(fx.configPath, 'BRIDGE: br1\n');
    const out = printer();
    await runSetup(fx.options({ uninstall: true }), out.print, torqueHooks);
    expect(readFileSync(fx.configPath, 'utf8')).toBe('BRIDGE: br1\n');
    expect(out.lines).toContain(`kept ${fx.configPath}: it was edited after setup created it`);
    expect(existsSync(fx.prefix)).toBe(false);
  });

  it('never removes a config that was there before setup', async () => {
    mkdirSync(join(fx.root, 'etc', 'vtorque'));
    writeFileSync(fx.configPath, 'SITE: 1\n');
    await runSetup(fx.options(), () => undefined, torqueHooks);
    await runSetup(fx.options({ uninstall: true }), () => undefined, torqueHooks);
    expect(readFileSync(fx.configPath, 'utf8')).toBe('SITE: 1\n');
  });

  it('leaves a hook the admin replaced after install, and its .orig', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const hook = join(fx.momPriv, 'epilogue');
    const { unlinkSync } = await import('node:fs');
    unlinkSync(hook);
    writeFileSync(hook, 'new site epilogue\n');
    const out = printer();
    await runSetup(fx.options({ uninstall: true }), out.print, torqueHooks);
    expect(readFileSync(hook, 'utf8')).toBe('new site epilogue\n');
    expect(existsSync(`${hook}.orig`)).toBe(true);
    expect(out.lines).toContain(`kept ${hook}: it is no longer vTorque's link`);
  });

  it('refuses without a manifest', async () => {
    const run = runSetup(fx.options({ uninstall: true }), () => undefined, torqueHooks);
    await expect(run).rejects.toBeInstanceOf(VtorqueError);
    await expect(runSetup(fx.options({ uninstall: true }), () => undefined, torqueHooks)).rejects.toThrow(/no install manifest at .*install-manifest\.json/);
  });
});
