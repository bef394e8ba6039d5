import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSetup } from '../../src/admin/setup/index.js';
import { torqueHooks } from '../../src/torque/install/index.js';
import { makeFixture, printer, snapshot, type Fixture } from './fixture.js';

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(() => fx.cleanup());

describe('vtorque setup --dry-run', () => {
  it('prints one line per action and changes nothing', async () => {
    const before = snapshot(fx.root);
    const out = printer();
    expect(await runSetup(fx.options({ dryRun: true }), out.print, torqueHooks)).toBe(0);
    expect(snapshot(fx.root)).toEqual(before);
    const lib = join(fx.prefix, 'lib', 'vtorque');
    expect(out.lines).toContain(`mkdir 0755 ${fx.prefix}`);
    expect(out.lines).toContain(`install 0444 ${join(lib, 'dist', 'vsub.mjs')}`);
    expect(out.lines).toContain(`install 0500 ${join(lib, 'hooks', 'prologue')}`);
    expect(out.lines).toContain(`install 0555 ${join(lib, 'hooks', 'epilogue.precancel')}`);
    expect(out.lines).toContain(`install 0644 ${fx.configPath}`);
    expect(out.lines).toContain(`rename ${join(fx.momPriv, 'prologue')} -> prologue.orig`);
    expect(out.lines).toContain(`link ${join(fx.momPriv, 'prologue')} -> ${join(lib, 'hooks', 'prologue')}`);
    expect(out.lines.at(-1)).toMatch(/^dry run: \d+ change\(s\) planned, nothing changed$/);
  });

  it('previews an uninstall without touching the install', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const before = snapshot(fx.root);
    const out = printer();
    await runSetup(fx.options({ uninstall: true, dryRun: true }), out.print, torqueHooks);
    expect(snapshot(fx.root)).toEqual(before);
    expect(out.lines).toContain(`rename ${join(fx.momPriv, 'epilogue.orig')} -> epilogue`);
  });

  it('reports an installed tree as up to date', async () => {
    await runSetup(fx.options(), () => undefined, torqueHooks);
    const out = printer();
    await runSetup(fx.options({ dryRun: true }), out.print, torqueHooks);
    expect(out.lines).toEqual([`vtorque setup: up to date (${fx.prefix})`]);
  });
});
