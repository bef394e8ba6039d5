import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../core/config/validate.js';
import { runnerSettings, type RunJobOptions } from './options.js';

const base = { config: defaultConfig(), env: {}, args: [], stdout: process.stdout, stderr: process.stderr, renderTemplates: {} } as unknown as RunJobOptions;

describe('runnerSettings: cwd', () => {
  it('keeps an absolute cwd as given, and none when none was given', () => {
    expect(runnerSettings({ ...base, cwd: '/home/alice/run 1' }).cwd).toBe('/home/alice/run 1');
    expect(runnerSettings(base).cwd).toBeUndefined();
  });

  it.each(['', 'run', './run'])('refuses the relative cwd %j as a usage error', (cwd) => {
    expect(() => runnerSettings({ ...base, cwd })).toThrow(/expected the `cwd` option to be an absolute path/);
  });
});
