import { describe, expect, it } from 'vitest';
import { readScriptHeader, scanDirectives, splitWords, quoteWord } from './directives.js';
import { parseQsubArgs } from './options.js';
import { computeRaise } from '../../cli/vsub/resources.js';
import { torqueSizeMiB as sizeToMiB } from './size.js';
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
  it('reports where qsub stopped and the -vm directives it then ignores', () => {
    const h = readScriptHeader('#PBS -N a\n\necho\n#PBS -vm vcpus=1\n#PBS -N b\n  #PBS -l x -vm ram=1G\n#PBS -N -vm\n#PBS -vm "x\n', '#PBS', 's');
    expect(h.directives.map((d) => d.words)).toEqual([['-N', 'a']]);
    expect(h.firstCommand).toBe(3);
    // "-N -vm" names the job "-vm"; an untokenizable line naming -vm still counts.
    expect(h.lateVmLines).toEqual([4, 6, 8]);
    expect(readScriptHeader('#PBS -N a\n# only comments\n', '#PBS', 's')).toMatchObject({ firstCommand: null, lateVmLines: [] });
  });
  it('a continuation takes in any next line; a trailing backslash before the end of the script is refused as qsub refuses it', () => {
    expect(scanDirectives('#PBS -N a\\\necho b\n', '#PBS', 's')[0]).toMatchObject({ words: ['-N', 'aecho', 'b'], lineNo: 1, source: 's' });
    expect(scanDirectives('#PBS -N a\\\n\n#PBS -q b\n', '#PBS', 's').map((d) => d.lineNo)).toEqual([1, 3]);
    expect(() => scanDirectives('#PBS -N a\n#PBS -q b \\\n', '#PBS', 's')).toThrow(/^s line 2: the directive ends with \\ but no line follows/);
    expect(scanDirectives('#PBS -N a\\', '#PBS', 's')[0]?.words).toEqual(['-N', 'a\\']);
  });
  it('tokenizes like qsub: quotes group, backslash escapes, unmatched quote fails', () => {
    expect(splitWords(`-N "a b" -v 'X=1 2' c\\ d`, 'w')).toEqual(['-N', 'a b', '-v', 'X=1 2', 'c d']);
    expect(() => splitWords('-N "open', 'w')).toThrow(/unmatched/);
    for (const w of ["it's", 'a b', '$(x)', '', 'x\\', 'a"b']) expect(splitWords(quoteWord(w), 'w')).toEqual([w]);
    expect(splitWords(`a'b c'd "x"'y' '' \\\\ \\"q e\\`, 'w')).toEqual(['ab cd', 'xy', '', '\\', '"q', 'e\\']);
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
