import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSite, REPO, type TestSite } from '../helpers/site.js';

// The real bundle through the checkout's bin shim, as `npx vsub` runs it, against a stub qsub.
let site: TestSite;
const run = (args: string[], input?: string) =>
  spawnSync(join(REPO, 'bin', 'vsub'), args, {
    cwd: site.cwd,
    input: input ?? '',
    encoding: 'utf8',
    env: { PATH: process.env.PATH, VTORQUE_CONFIG: site.configPath, TMPDIR: site.tmp },
  });

beforeAll(() => {
  site = makeSite();
  writeFileSync(join(site.cwd, 'job.sh'), '#!/bin/sh\n#PBS -N demo\necho hi\n');
});

describe('vsub as a process', () => {
  it('a plain job reaches qsub with the argv unchanged; only qsub speaks', () => {
    const r = run(['-N', 'a b', '-lnodes=1', 'job.sh']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('42.testserver\n');
    expect(r.stderr).toBe('');
    expect(readFileSync(join(site.dir, 'qsub.argv'), 'utf8')).toBe('-N\na b\n-lnodes=1\njob.sh\n');
  });

  it('a VM job prints the job id and exits with qsub\'s code, leaving no temp file', () => {
    const r = run(['-vm', 'img=debian-12-x86_64.qcow2', 'job.sh']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('42.testserver\n');
    const wrapper = readFileSync(join(site.dir, 'qsub.script'), 'utf8');
    expect(wrapper.split('\n')[1]).toMatch(/^#VTORQUE-REQUEST v1 /);
    expect(spawnSync('sh', ['-n', join(site.dir, 'qsub.script')]).status).toBe(0);
    expect(readdirSync(site.tmp)).toEqual([]);
  });

  it('a STDIN VM job feeds the wrapper to qsub on stdin', () => {
    const r = run(['-vm', 'vcpus=1'], 'echo piped\n');
    expect(r.status).toBe(0);
    expect(readFileSync(join(site.dir, 'qsub.stdin'), 'utf8')).toMatch(/^#!\/bin\/sh\n#VTORQUE-REQUEST v1 /);
  });

  it('bad input gives a one-line error and the documented exit code', () => {
    const unknown = run(['-vm', 'colour=blue', 'job.sh']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const bad = run(['-vm', 'ram=lots', 'job.sh']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^vsub: -vm: ram = "lots": expected a size like/);
  });
});
