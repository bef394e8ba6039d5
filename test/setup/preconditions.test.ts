import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkPreconditions, resolveSetupOptions, runSetup } from '../../src/admin/setup/index.js';
import { torqueHooks } from '../../src/torque/install/index.js';
import { VtorqueError } from '../../src/core/errors.js';
import { makeFixture, type Fixture } from './fixture.js';

let fx: Fixture;
beforeEach(() => {
  fx = makeFixture();
});
afterEach(() => fx.cleanup());

function refusal(fn: () => void): VtorqueError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VtorqueError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('setup preconditions', () => {
  it('refuses a non-root user unless it is a dry run', () => {
    const err = refusal(() => checkPreconditions(fx.options(), 1000));
    expect(err.message).toMatch(/^vtorque setup must run as root: it installs root-owned hooks \(try: sudo /);
    expect(err.exitCode).toBe(1);
    expect(() => checkPreconditions(fx.options({ dryRun: true }), 1000)).not.toThrow();
    expect(() => checkPreconditions(fx.options(), 0)).not.toThrow();
  });

  it.each(['opt/vtorque', '/opt/../etc', '/opt/vtorque/..', '/opt/vt\norque'])('refuses prefix %j', (prefix) => {
    const err = refusal(() => checkPreconditions(fx.options({ prefix }), 0));
    expect(err.code).toBe('USAGE');
    expect(err.message).toContain('--prefix must be an absolute path');
    expect(err.message).not.toContain('\n');
  });

  it('refuses a source root that was never built', async () => {
    rmSync(join(fx.source, 'dist', 'hook.mjs'));
    await expect(runSetup(fx.options(), () => undefined, torqueHooks)).rejects.toThrow(/dist\/hook\.mjs is missing: run npm run build first/);
  });

  it('fills defaults: torqueHome from mom_priv, the standard config and profile paths', () => {
    const o = resolveSetupOptions({ prefix: '/opt/vtorque', momPriv: '/var/spool/torque-ref/mom_priv', sourceRoot: '/src' });
    expect(o).toMatchObject({
      torqueHome: '/var/spool/torque-ref',
      configPath: '/etc/vtorque/config.yaml',
      profileDir: '/etc/profile.d',
      nodePath: process.execPath,
      uninstall: false,
      dryRun: false,
    });
    expect(resolveSetupOptions({ prefix: '/p', sourceRoot: '/src' }).torqueHome).toBe('/var/spool/torque');
  });
});
