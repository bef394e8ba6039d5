import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jobDirName } from '../../core/contract/job-state.v1.js';
import { VtorqueError } from '../../core/errors.js';
import { torqueActiveJobs } from './active-jobs.js';

const top = mkdtempSync(join(tmpdir(), 'vtq-active-'));
afterAll(() => rmSync(top, { recursive: true, force: true }));

/** A TORQUE_HOME whose mom_priv/jobs holds these files (names ending in / are directories). */
function torqueHome(name: string, entries: readonly string[]): string {
  const home = join(top, name);
  const jobs = join(home, 'mom_priv', 'jobs');
  mkdirSync(jobs, { recursive: true, mode: 0o751 });
  for (const e of entries) {
    if (e.endsWith('/')) mkdirSync(join(jobs, e.slice(0, -1)), { mode: 0o700 });
    else writeFileSync(join(jobs, e), 'x', { mode: 0o600 });
  }
  return home;
}

describe('torqueActiveJobs', () => {
  const isActive = torqueActiveJobs(
    torqueHome('mom', ['35.vm.JB', '35.vm.SC', '36.vm15013.SC', '12.server.TK/', '123[4].srv.JB', '12345.longs.JB']),
  );
  const cases: [string, boolean][] = [
    ['35.vm', true],
    ['3.vm', false],
    ['135.vm', false],
    ['5.vm', false],
    ['36.vm', true], // multi-mom: <jobid><port>.SC
    ['12.server', true], // only a .TK directory left
    ['123[4].srv', true], // array job
    ['12345.longservername.example', true], // the file prefix was cut short
    ['99.vm', false],
    ['35.v', false],
    ['1.server', false],
  ];

  it.each(cases)('job id %s: active %s', (id, active) => {
    expect(isActive(id)).toBe(active);
  });

  it.each(cases)('job dir name of %s: active %s', (id, active) => {
    expect(isActive(jobDirName(id))).toBe(active);
  });

  it('the array job id and its dir name are distinct strings, both found', () => {
    expect(jobDirName('123[4].srv')).toBe('123_4_.srv');
    expect(isActive('123_4_.srv')).toBe(true);
    expect(isActive('123[5].srv')).toBe(false);
    expect(isActive('123_5_.srv')).toBe(false);
  });

  it('is conservative: any id a file prefix could be the start of counts as active', () => {
    // A prefix may have been cut short, so every id that extends one is taken to be its job.
    expect(isActive('12345.longs')).toBe(true);
    expect(isActive('12345.longsomething.else')).toBe(true);
    expect(isActive('12345.long')).toBe(false);
    expect(isActive('12346.longservername.example')).toBe(false);
  });

  it('an empty jobs directory: nothing is active', () => {
    const none = torqueActiveJobs(torqueHome('empty', []));
    expect(['35.vm', '12.server', '1.x'].map(none)).toEqual([false, false, false]);
  });

  it('a missing mom_priv/jobs is an error naming the path, not "no job runs"', () => {
    const home = join(top, 'no-jobs');
    mkdirSync(join(home, 'mom_priv'), { recursive: true });
    const jobs = join(home, 'mom_priv', 'jobs');
    const err = (() => {
      try {
        torqueActiveJobs(home);
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(VtorqueError);
    expect((err as VtorqueError).code).toBe('USAGE');
    expect((err as VtorqueError).message).toContain(jobs);
    // Nor does a wrong TORQUE_HOME altogether, or a file where the directory should be.
    expect(() => torqueActiveJobs(join(top, 'nowhere'))).toThrow(join(top, 'nowhere', 'mom_priv', 'jobs'));
    writeFileSync(jobs, '');
    expect(() => torqueActiveJobs(home)).toThrow(`${jobs} is not a directory`);
  });
});
