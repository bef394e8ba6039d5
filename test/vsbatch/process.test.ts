import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/site.js';
import { makeSlurmSite, type SlurmSite } from '../helpers/vsbatch-harness.js';

// The real bundle through the checkout's bin shim, as `npx vsbatch` runs it, against a fake sbatch.
let site: SlurmSite;
const run = (args: string[], input?: string) =>
  spawnSync(join(REPO, 'bin', 'vsbatch'), args, {
    cwd: site.cwd,
    input: input ?? '',
    encoding: 'utf8',
    env: { PATH: process.env.PATH, VTORQUE_CONFIG: site.configPath, TMPDIR: site.tmp },
  });

beforeAll(() => {
  site = makeSlurmSite();
  writeFileSync(join(site.cwd, 'job.sh'), '#!/bin/sh\n#SBATCH -J demo\nhostname\n');
});

describe('vsbatch as a process', () => {
  it('a plain job reaches sbatch with the argv byte for byte; only sbatch speaks', () => {
    const argv = ['-J', 'a b', '--export=ALL,X=1', '-N2', '--', 'job.sh', 'x\ty', ''];
    const r = run(argv);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Submitted batch job 42\n');
    expect(readFileSync(join(site.dir, 'sbatch.argv'), 'utf8')).toBe(argv.map((a) => `${a}\n`).join(''));
  });

  it("a VM job prints sbatch's job id, leaves no temporary file, and its wrapper is valid sh", () => {
    const r = run(['--vm', 'img=debian-12-x86_64.qcow2', 'job.sh']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Submitted batch job 42\n');
    expect(r.stderr).toMatch(/^vsbatch: requested --cpus-per-task=2 /);
    const wrapper = readFileSync(join(site.dir, 'sbatch.script'), 'utf8');
    expect(wrapper.split('\n')[1]).toMatch(/^#VTORQUE-REQUEST v1 /);
    expect(spawnSync('sh', ['-n', join(site.dir, 'sbatch.script')]).status).toBe(0);
    expect(readdirSync(site.tmp)).toEqual([]);
  });

  it('bad input: one line on stderr, the documented exit code', () => {
    const r = run(['--vm', 'colour=blue', 'job.sh']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vsbatch: --vm: unknown -vm key "colour"; valid keys: .*\n$/);
  });
});
