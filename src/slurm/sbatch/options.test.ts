import { describe, expect, it } from 'vitest';
import { hasOption, lastValue, parseSbatchArgs, resolveLong, SBATCH_OPTIONS, sbatchWords, type SbatchToken } from './options.js';

const opts = (tokens: readonly SbatchToken[]) => tokens.map((t) => (t.kind === 'option' ? `${t.name}=${t.value}` : `${t.kind}:${t.raw.join(' ')}`));
const OWN = [{ long: 'vm', value: true }, { long: 'dry-run', value: false }];

describe('sbatch 22.05 option table', () => {
  it('holds every option once, short letters once, with what sbatch 22.05.8 was measured to take', () => {
    expect(new Set(SBATCH_OPTIONS.map((o) => o.long)).size).toBe(SBATCH_OPTIONS.length);
    const shorts = SBATCH_OPTIONS.flatMap((o) => (o.short ? [o.short] : []));
    expect(new Set(shorts).size).toBe(shorts.length);
    expect(shorts.sort().join('')).toBe('ABCDFGHJLMNOQSVWabcdehikmnopqstvwx');
    const arg = (n: string) => SBATCH_OPTIONS.find((o) => o.long === n)?.arg;
    expect(['mem', 'mem-per-cpu', 'nodes', 'wrap', 'array', 'export', 'cpus-per-task'].map(arg)).toEqual(Array(7).fill('required'));
    expect(['exclusive', 'nice', 'no-kill', 'propagate', 'get-user-env'].map(arg)).toEqual(Array(5).fill('optional'));
    expect(['hold', 'parsable', 'wait', 'test-only', 'ignore-pbs', 'requeue'].map(arg)).toEqual(Array(6).fill('none'));
  });
  it('long options shorten to an unambiguous prefix, as getopt_long does', () => {
    expect(resolveLong('ntasks-per-n')).toMatchObject({ long: 'ntasks-per-node' });
    expect(resolveLong('mem')).toMatchObject({ long: 'mem' }); // exact beats mem-per-cpu
    expect(resolveLong('nod')).toBe('ambiguous');
    expect(resolveLong('frob')).toBeUndefined();
  });
});

describe('sbatch argv parsing', () => {
  it('--opt=value, --opt value, -Xvalue, -X value, clusters', () => {
    const p = parseSbatchArgs(['--mem=4G', '--cpus-per-task', '2', '-N2', '-n', '4', '-vHJname', 'job.sh']);
    expect(opts(p.tokens)).toEqual(['mem=4G', 'cpus-per-task=2', 'nodes=2', 'ntasks=4', 'verbose=null', 'hold=null', 'job-name=name']);
    expect(p.script).toBe('job.sh');
  });
  it('optional values only attached: --nice 5 leaves 5 as the script, -k1 is a value', () => {
    expect(parseSbatchArgs(['--nice', '5']).script).toBe('5');
    expect(opts(parseSbatchArgs(['--nice=5', '-k', '-kx']).tokens)).toEqual(['nice=5', 'no-kill=null', 'no-kill=x']);
  });
  it('stops at the script: every later word is the script\'s, --vm and -N included', () => {
    const p = parseSbatchArgs(['-J', 'x', 'job.sh', '-N', '2', '--vm', 'vcpus=2'], OWN);
    expect(p.script).toBe('job.sh');
    expect(p.scriptArgs).toEqual(['-N', '2', '--vm', 'vcpus=2']);
    expect(p.tokens.some((t) => t.kind === 'own')).toBe(false);
  });
  it('-- ends the options; - is a script named "-"; : separates hetjob components', () => {
    expect(parseSbatchArgs(['-N1', '--', '--weird', 'a'])).toMatchObject({ script: '--weird', scriptArgs: ['a'] });
    expect(parseSbatchArgs(['-']).script).toBe('-');
    const het = parseSbatchArgs(['-N1', ':', '-N2', 'job.sh']);
    expect(opts(het.tokens)).toEqual(['nodes=1', 'hetjob::', 'nodes=2']);
  });
  it('unknown, ambiguous and misused options pass through as words sbatch will refuse', () => {
    const p = parseSbatchArgs(['--frob', '--nod=1', '--hold=x', '-f', '-vz', 'job.sh']);
    expect(p.tokens.map((t) => t.kind)).toEqual(['unknown', 'unknown', 'unknown', 'unknown', 'unknown']);
    expect(sbatchWords(p.tokens)).toEqual(['--frob', '--nod=1', '--hold=x', '-f', '-vz']);
  });
  it('a value missing at the end is marked, never thrown', () => {
    const p = parseSbatchArgs(['-J']);
    expect(p.tokens[0]).toMatchObject({ name: 'job-name', missing: true });
    expect(parseSbatchArgs(['--mem'])).toMatchObject({ tokens: [{ name: 'mem', missing: true }] });
  });
  it("the caller's own options are exact words, with a value as --vm=v or --vm v", () => {
    const p = parseSbatchArgs(['--vm=vcpus=2', '--vm', 'ram=1G', '--dry-run', '--dry', '--vm-x=1'], OWN);
    expect(p.tokens.map((t) => (t.kind === 'own' ? `${t.name}:${t.value}` : t.kind))).toEqual(['vm:vcpus=2', 'vm:ram=1G', 'dry-run:null', 'unknown', 'unknown']);
    expect(sbatchWords(p.tokens)).toEqual(['--dry', '--vm-x=1']);
  });
  it('lastValue and hasOption read what sbatch would use', () => {
    const p = parseSbatchArgs(['--mem=1G', '--mem', '2G', '--me=3G', '--hold']);
    expect(lastValue(p.tokens, 'mem')).toBe('2G');
    expect(lastValue(p.tokens, 'nodes')).toBeUndefined();
    expect(p.tokens[2]?.kind).toBe('unknown'); // --me: mem, mem-bind, mem-per-cpu, mem-per-gpu
    expect(hasOption(p.tokens, 'hold')).toBe(true);
  });
});
