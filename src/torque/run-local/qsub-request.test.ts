import { describe, expect, it } from 'vitest';
import { buildQsubRequest } from './qsub-request.js';

const env = new Map([['HOME', '/home/alice'], ['FOO', 'from-env'], ['PATH', '/usr/bin']]);

describe('buildQsubRequest', () => {
  it('lets the command line win over directives, merges -l per key, defaults queue and name', () => {
    const script = '#!/bin/sh\n#PBS -N fromscript\n#PBS -l nodes=1:ppn=4,mem=1gb\n#PBS -A acct\necho\n';
    const r = buildQsubRequest(['-l', 'mem=2gb', '-N', 'cli', 'dir/job.sh'], script, env);
    expect(r.jobName).toBe('cli');
    expect([...r.resources]).toEqual([['nodes', '1:ppn=4'], ['mem', '2gb']]);
    expect(r.queue).toBe('batch');
    expect(r.account).toBe('acct');
    expect(buildQsubRequest(['dir/job.sh'], '', env).jobName).toBe('job.sh');
    expect(buildQsubRequest([], '', env).jobName).toBe('STDIN');
    expect(buildQsubRequest(['-q', 'fast@server', '-'], '', env)).toMatchObject({ jobName: 'STDIN', queue: 'fast' });
  });

  it('honours -C for the directive prefix', () => {
    expect(buildQsubRequest(['-C', '#X', 'j'], '#X -N other\n', env).jobName).toBe('other');
  });

  it('resolves -v against qsub\'s environment and -V exports all of it', () => {
    const r = buildQsubRequest(['-v', 'A=1,FOO,MISSING,B=x=y', 'j'], '', env);
    expect([...r.variables]).toEqual([['A', '1'], ['FOO', 'from-env'], ['B', 'x=y']]);
    const all = buildQsubRequest(['-V', '-v', 'HOME=/elsewhere', 'j'], '', env);
    expect(all.variables.get('PATH')).toBe('/usr/bin');
    expect(all.variables.get('HOME')).toBe('/elsewhere');
  });

  it('keeps -F, -d, -w and notices -I', () => {
    const r = buildQsubRequest(['-F', 'a "b c"', '-d', '/scratch', '-w', '/w', '-I'], '', env);
    expect(r).toMatchObject({ fArgs: 'a "b c"', initDir: '/scratch', workDir: '/w', interactive: true });
  });
});
