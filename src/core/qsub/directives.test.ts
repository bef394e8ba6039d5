import { describe, expect, it } from 'vitest';
import { scanDirectives, splitWords, quoteWord } from './directives.js';
import { parseQsubArgs } from './options.js';
import { computeRaise, sizeToMiB } from '../../cli/vsub/resources.js';
import { mergeResourceLists } from './resource-list.js';

describe('qsub directive scanning', () => {
  it('skips #! and : lines, continues over blanks and comments, stops at the first command', () => {
    const d = scanDirectives('#!/bin/bash\n: colon\n\n  #PBS -N one\n# comment\n#PBS -l nodes=1\necho x\n#PBS -N late\n', '#PBS', 's');
    expect(d.map((x) => x.words)).toEqual([['-N', 'one'], ['-l', 'nodes=1']]);
    expect(d[0]?.lineNo).toBe(4);
  });
  it('joins backslash continuations and handles CRLF', () => {
    const d = scanDirectives('#PBS -l walltime=1:00:00,\\\r\nmem=1gb\r\necho\r\n', '#PBS', 's');
    expect(d[0]?.words).toEqual(['-l', 'walltime=1:00:00,mem=1gb']);
    expect(d[0]?.lines).toHaveLength(2);
  });
  it('needs no space after the prefix and honours an empty prefix', () => {
    expect(scanDirectives('#PBS-N x\n', '#PBS', 's')[0]?.words).toEqual(['-N', 'x']);
    expect(scanDirectives('#PBS -N x\n', '', 's')).toEqual([]);
  });
  it('tokenizes like qsub: quotes group, backslash escapes, unmatched quote fails', () => {
    expect(splitWords(`-N "a b" -v 'X=1 2' c\\ d`, 'w')).toEqual(['-N', 'a b', '-v', 'X=1 2', 'c d']);
    expect(() => splitWords('-N "open', 'w')).toThrow(/unmatched/);
    for (const w of ["it's", 'a b', '$(x)', '']) expect(splitWords(quoteWord(w), 'w')).toEqual([w]);
  });
});

describe('qsub argv parsing', () => {
  it('GNU getopt: clusters, attached values, permutation, -- and -', () => {
    const p = parseQsubArgs(['-Vzlnodes=2', 'job.sh', '-N', 'x', '--', '-weird']);
    expect(p.tokens.filter((t) => t.kind === 'option').map((t) => (t.kind === 'option' ? `${t.letter}=${t.value}` : ''))).toEqual(['V=null', 'z=null', 'l=nodes=2', 'N=x']);
    expect(p.script).toBe('job.sh');
    expect(p.extraOperands).toEqual(['-weird']);
    expect(parseQsubArgs(['-']).script).toBeNull();
    expect(parseQsubArgs(['-W', 'interactive=true']).interactive).toBe(true);
  });
  it('an option missing its value is a usage error', () => {
    expect(() => parseQsubArgs(['-N'])).toThrow(/-N requires a value/);
  });
});

describe('resources', () => {
  it('sizes in Torque units', () => {
    expect(sizeToMiB('1gb')).toBe(1024);
    expect(sizeToMiB('2048mb')).toBe(2048);
    expect(sizeToMiB('1048576kb')).toBe(1024);
    expect(sizeToMiB('1w')).toBeCloseTo(8 / 1024 ** 2);
    expect(sizeToMiB('lots')).toBeUndefined();
  });
  it('merges per key, later lists win', () => {
    expect([...mergeResourceLists(['nodes=1,walltime=1:00:00', 'nodes=2'])]).toEqual([['nodes', '2'], ['walltime', '1:00:00']]);
  });
  it('raises only what is short, across node specs', () => {
    const r = computeRaise(mergeResourceLists(['nodes=2:ppn=8:gpus=1+hostx,mem=100gb']), { ppn: 4, memMiBPerNode: 2048 });
    expect([...r.set]).toEqual([['nodes', '2:ppn=8:gpus=1+hostx:ppn=4']]);
  });
});
