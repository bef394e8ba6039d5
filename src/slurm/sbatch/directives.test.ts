import { describe, expect, it } from 'vitest';
import { readSbatchHeader, splitDirectiveWords } from './directives.js';
import { slurmSize, slurmSizeMiB } from './size.js';

const OWN = [{ long: 'vm', value: true }];
const words = (script: string) => readSbatchHeader(script, 's', OWN).directives.map((d) => d.words);

describe('#SBATCH directives, as sbatch 22.05.8 reads them (measured)', () => {
  it('only lines starting exactly with #SBATCH; blanks and comments go on; the first other line ends them', () => {
    expect(words('#!/bin/sh\n#SBATCH -N 2\n\n  \t\n# c\n  #SBATCH -N 9\n#!/x\n#SBATCH --mem=1G\necho\n#SBATCH -J late\n')).toEqual([['-N', '2'], ['--mem=1G']]);
  });
  it('a ":" line ends them (unlike qsub)', () => {
    expect(words('#!/bin/sh\n:\n#SBATCH -N 2\n')).toEqual([]);
  });
  it('no blank is needed after the prefix; a tab works', () => {
    expect(words('#!/bin/sh\n#SBATCH--nodes=2\n#SBATCH\t-J x\n#SBATCH\n')).toEqual([['--nodes=2'], ['-J', 'x'], []]);
  });
  it('reports the shebang, the first command, #PBS/#BSUB lines and late --vm lines', () => {
    const h = readSbatchHeader('#!/bin/sh\n#PBS -N x\n#SBATCH -N1\nhostname\n#SBATCH --vm vcpus=2\n#SBATCH -J y\n', 's', OWN);
    expect(h).toMatchObject({ shebang: true, firstCommand: 4, lateVmLines: [5], foreign: [{ lineNo: 2 }] });
    expect(readSbatchHeader('echo\n', 's').shebang).toBe(false);
    expect(readSbatchHeader('#!/bin/sh\n#SBATCH -N1\n', 's').firstCommand).toBeNull();
  });
  it('--vm in a directive is the caller\'s own option', () => {
    const d = readSbatchHeader('#!/bin/sh\n#SBATCH -N 2 --vm vcpus=2,ram=1G\n', 's', OWN).directives[0];
    expect(d?.parsed.tokens.map((t) => t.kind)).toEqual(['option', 'own']);
  });
  it('quotes group and join, # outside quotes ends, backslashes are dropped, an unmatched quote is named', () => {
    expect(splitDirectiveWords(` -J "a b" --comment='x#y' -N2 # note`, 'w')).toEqual(['-J', 'a b', '--comment=x#y', '-N2']);
    expect(splitDirectiveWords('--nodes=bad"6#3" ba\\d "q\\r"', 'w')).toEqual(['--nodes=bad6#3', 'bad', 'qr']);
    expect(splitDirectiveWords('a#b', 'w')).toEqual(['a']);
    expect(() => splitDirectiveWords('-J "open', 's line 2')).toThrow(/^s line 2: unmatched " in the #SBATCH directive/);
    const h = readSbatchHeader('#!/bin/sh\n#SBATCH -J "open\n', 's');
    expect(h.directives[0]?.problem).toMatch(/unmatched/);
  });
});

describe("Slurm's sizes", () => {
  it('K/M/G/T with an optional B, any case, a bare number MiB, leading blanks; KiB round up', () => {
    expect(['2048', '2048M', '2G', '2g', '2GB', ' 2G', '2097152K'].map(slurmSizeMiB)).toEqual(Array(7).fill(2048));
    expect(slurmSizeMiB('1T')).toBe(1024 * 1024);
    expect(slurmSizeMiB('1K')).toBe(1);
    expect(slurmSizeMiB('0')).toBe(0);
  });
  it('what sbatch refuses is not a size', () => {
    for (const t of ['', '1P', '1.5G', '-1', '1KiB', '1B', '1 G', '1G ', '1Gfoo', '1M2']) expect(slurmSizeMiB(t), t).toBeUndefined();
  });
  it('written back in G when whole, else M', () => {
    expect([slurmSize(3072), slurmSize(1536)]).toEqual(['3G', '1536M']);
  });
});
