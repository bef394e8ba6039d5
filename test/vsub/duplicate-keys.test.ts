import { beforeEach, describe, expect, it } from 'vitest';
import { decodeJobScript } from '../../src/core/contract/job-script.v1.js';
import { makeSite, type TestSite } from '../helpers/site.js';
import { expectRefusedOneLine, putScript, vsub, type VsubOutcome } from '../helpers/vsub-harness.js';

// A -vm key given twice (issue 10 §6): refused in one place, the command line wins over the script with a warning.
let site: TestSite;
const script = (name: string, text: string): string => putScript(site, name, text);
const refusedOneLine = (r: VsubOutcome, code: number): string => expectRefusedOneLine(site, r, code);

beforeEach(() => {
  site = makeSite();
});

describe('vsub: a -vm key given twice', () => {
  beforeEach(() => void script('job.sh', 'echo\n'));

  it.each([
    [['-vm', 'vcpus=1,vcpus=4']],
    [['-vm', 'VCPUS=1,vcpus=4']],
    [['-vm', 'vcpus=1', '-vm', 'ram=1G,vcpus=4']],
  ])('on the command line %j: refused, naming the key, both values and the accepted form', async (argv) => {
    const err = refusedOneLine(await vsub(site, [...argv, 'job.sh']), 1);
    expect(err).toBe('-vm: vcpus = "4": expected vcpus once (an integer from 1 to 1024), but it is also "1" (-vm)');
  });

  it('in the script, on two directive lines: refused, naming both lines', async () => {
    script('two.sh', '#PBS -vm ram=1G\n#PBS -N x\n#PBS -vm vcpus=2,RAM=2G\necho\n');
    expect(refusedOneLine(await vsub(site, ['two.sh']), 1)).toBe('two.sh line 3: ram = "2G": expected ram once (a size like 2048M, 4G or 1T (K/M/G/T; a bare number is MiB), at least 64M), but it is also "1G" (two.sh line 1)');
  });

  it('in the script and on the command line: the command line wins, with one warning naming the key and both values', async () => {
    script('s.sh', '#PBS -vm vcpus=3,ram=1G\necho\n');
    const r = await vsub(site, ['-vm', 'vcpus=1', 's.sh']);
    expect(r.code).toBe(0);
    expect(decodeJobScript(r.qsub?.fileText ?? '', 't')?.request).toMatchObject({ vcpus: 1, ram: 1024 });
    const warnings = r.err.split('\n').filter((l) => l.includes('overrides'));
    expect(warnings).toEqual(['vsub: -vm: vcpus = "1" overrides vcpus = "3" of s.sh line 1 (the command line wins)']);
  });

  it('the same value in the script and on the command line: no warning', async () => {
    script('s.sh', '#PBS -vm vcpus=2\necho\n');
    const r = await vsub(site, ['-vm', 'vcpus=2', 's.sh']);
    expect(r.code).toBe(0);
    expect(r.err).not.toContain('overrides');
  });
});

