import { describe, expect, it } from 'vitest';
import { currentDir, jobRunArgs } from './from-process.js';

describe('jobRunArgs', () => {
  it('is everything after the command word, options and all, untouched', () => {
    expect(jobRunArgs(['/usr/bin/node', '/opt/vtorque/dist/vtorque.mjs', 'job-run', '--help', 'job-run', '', 'a b'])).toEqual(['--help', 'job-run', '', 'a b']);
    expect(jobRunArgs(['node', 'vtorque.mjs', 'job-run'])).toEqual([]);
  });

  it('refuses an argv without the command', () => {
    expect(() => jobRunArgs(['node', 'vtorque.mjs'])).toThrow(/job-run/);
  });
});

describe('currentDir', () => {
  it('is the process cwd', () => {
    expect(currentDir()).toEqual({ cwd: process.cwd() });
  });

  it('is nothing when the directory is gone, so the guest starts at home', () => {
    expect(
      currentDir(() => {
        throw Object.assign(new Error('ENOENT: process.cwd failed'), { code: 'ENOENT' });
      }),
    ).toEqual({});
  });
});
