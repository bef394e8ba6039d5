import { spawnSync } from 'node:child_process';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeJobScript } from '../../src/core/contract/job-script.v1.js';
import { scanDirectives } from '../../src/torque/qsub/index.js';
import { makeSite, type TestSite } from '../helpers/site.js';
import { expectRefusedOneLine, putScript, vsub, type VsubOutcome } from '../helpers/vsub-harness.js';

// The script's directives in a VM job (issue 10 §6): continuation lines and -vm after the first command, one clear line each.
let site: TestSite;
const IMG = 'img=debian-12-x86_64.qcow2';
const script = (name: string, text: string): string => putScript(site, name, text);
const refusedOneLine = (r: VsubOutcome, code: number): string => expectRefusedOneLine(site, r, code);

beforeEach(() => {
  site = makeSite();
});

describe('vsub: a directive continued with a backslash', () => {
  it('onto a line that is not a comment: refused in a VM job, naming both lines and why', async () => {
    script('job.sh', '#!/bin/sh\n#PBS -vm vcpus=1\n#PBS -l walltime=1:00:00,\\\nmem=1gb\necho hi\n');
    const err = refusedOneLine(await vsub(site, ['job.sh']), 1);
    expect(err).toBe(
      'job.sh line 4: "mem=1gb" continues the #PBS directive of line 3 (a trailing \\), so qsub would read it as directive text, but the job\'s shell in the VM would run it as a command: expected the directive on one line, or the rest as a #PBS line of its own',
    );
  });

  it('the same script without -vm goes to qsub unchanged (qsub joins the lines itself)', async () => {
    script('job.sh', '#!/bin/sh\n#PBS -l walltime=1:00:00,\\\nmem=1gb\necho hi\n');
    const r = await vsub(site, ['job.sh']);
    expect(r.code).toBe(0);
    expect(r.qsub?.args).toEqual(['job.sh']);
    expect(r.out + r.err).toBe('');
  });

  it('a -vm directive continued onto a non-comment line, and one at the end of the script, are refused with their line', async () => {
    script('a.sh', '#PBS -vm vcpus=1,\\\nram=1G\necho\n');
    expect(refusedOneLine(await vsub(site, ['a.sh']), 1)).toMatch(/^a\.sh line 2: "ram=1G" continues the #PBS directive of line 1 /);
    script('b.sh', '#PBS -vm vcpus=1\n#PBS -N x \\\n');
    expect(refusedOneLine(await vsub(site, ['b.sh']), 1)).toMatch(/^b\.sh line 2: the directive ends with \\ but no line follows to continue it \(qsub refuses this too\)/);
  });

  it('onto comment and blank lines: accepted, written as one line that qsub reads the same way', async () => {
    const text = '#!/bin/sh\n#PBS -vm vcpus=2\n#PBS -N "a b" \\\n  # -m abe\n#PBS -l walltime=1:00:00,\\\n\n#PBS -q batch\necho\n';
    script('job.sh', text);
    const r = await vsub(site, ['job.sh']);
    expect(r.code).toBe(0);
    const wrapper = r.qsub?.fileText ?? '';
    const words = (t: string): string[][] => scanDirectives(t, '#PBS', 't').map((d) => [...d.words]).filter((w) => w[0] !== '-vm');
    expect(words(wrapper)).toEqual(words(text));
    expect(decodeJobScript(wrapper, 't')?.script).toBe(text);
    expect(spawnSync('sh', ['-n', '-c', wrapper]).status).toBe(0);
  });

  it('a trailing backslash on the last line (no newline) cannot make qsub swallow the wrapper\'s own lines', async () => {
    const r = await vsub(site, ['-vm', IMG], { stdin: '#PBS -N x\\' });
    expect(r.code).toBe(0);
    const wrapper = r.qsub?.input ?? '';
    const header = wrapper.split('\n').slice(0, wrapper.split('\n').findIndex((l) => l.startsWith('exec ')));
    expect(header.filter((l) => l.endsWith('\\'))).toEqual([]);
    expect(scanDirectives(wrapper, '#PBS', 'w').map((d) => d.words)).toEqual([['-N', 'x\\']]);
    expect(decodeJobScript(wrapper, 't')?.script).toBe('#PBS -N x\\');
  });

  it('a -C prefix that is not a comment is a usage error naming the line, not an internal one; -C "" reads no directives', async () => {
    script('job.sh', 'XX -N foo\necho\n');
    expect(refusedOneLine(await vsub(site, ['-C', 'XX', '-vm', IMG, 'job.sh']), 2)).toMatch(/^job\.sh line 1: directive prefix "XX" \(-C\) does not start with #/);
    expect((await vsub(site, ['-C', '', '-vm', IMG, 'job.sh'])).code).toBe(0);
  });
});

describe('vsub: a -vm directive after the first command', () => {
  it('warns in one line with its line and the line where qsub stopped; the plain job goes to qsub unchanged', async () => {
    script('late.sh', '#!/bin/sh\n#PBS -N early\necho first\n#PBS -vm vcpus=2\n#PBS -N late\n');
    const r = await vsub(site, ['late.sh']);
    expect(r.code).toBe(0);
    expect(r.qsub?.args).toEqual(['late.sh']);
    expect(r.err).toBe('vsub: late.sh line 4: #PBS -vm comes after the first command (line 3), where qsub reads no more directives: ignored, this job runs on the host, without a VM\n');
    expect(r.out).toBe('');
  });

  it('several, in a VM job: still one line, and their keys are not used', async () => {
    script('late.sh', '#PBS -vm vcpus=2\nhostname\n#PBS -vm vcpus=4\n  #PBS -N x -vm ram=9G\n#PBS -vm "unclosed\n');
    const r = await vsub(site, ['late.sh']);
    expect(r.code).toBe(0);
    expect(decodeJobScript(r.qsub?.fileText ?? '', 't')?.request).toMatchObject({ vcpus: 2, ram: 512 });
    expect(r.err.split('\n').filter((l) => l.includes('first command'))).toEqual([
      'vsub: late.sh line 3 (and 2 more after it): #PBS -vm comes after the first command (line 2), where qsub reads no more directives: ignored, its keys are not used',
    ]);
  });

  it('only directives of the prefix in force count, and other late directives say nothing (as qsub)', async () => {
    script('late.sh', 'echo\n#PBS -vm vcpus=2\n#MY -N x\n');
    const plain = await vsub(site, ['-C', '#MY', 'late.sh']);
    expect(plain.out + plain.err).toBe('');
    const mine = await vsub(site, ['-C', '#PBS', 'late.sh']);
    expect(mine.err).toContain('late.sh line 2: #PBS -vm');
    script('other.sh', 'echo\n#MY -vm vcpus=2\n');
    expect((await vsub(site, ['-C', '#MY', 'other.sh'])).err).toContain('other.sh line 2: #MY -vm comes after the first command (line 1)');
  });

  it('on STDIN too', async () => {
    const r = await vsub(site, [], { stdin: 'echo\n#PBS -vm vcpus=2\n' });
    expect(r.qsub?.input).toBe('echo\n#PBS -vm vcpus=2\n');
    expect(r.err).toContain('STDIN line 2: #PBS -vm comes after the first command (line 1)');
  });
});
