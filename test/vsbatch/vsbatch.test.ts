import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { decodeJobScript } from '../../src/core/contract/job-script.v1.js';
import { splitDirectiveWords } from '../../src/slurm/sbatch/index.js';
import { makeSlurmSite, vsbatch, type SlurmSite, type VsbatchOutcome } from '../helpers/vsbatch-harness.js';

let site: SlurmSite;
const IMG = 'img=debian-12-x86_64.qcow2';
const script = (name: string, text: string): string => {
  writeFileSync(join(site.cwd, name), text);
  return name;
};
/** Refused as bad user input: one line, the job's fault, nothing submitted or left behind. */
const refused = (r: VsbatchOutcome, code: number): string => {
  expect(r.code).toBe(code);
  expect(r.error?.fault).toBe('job');
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.sbatch).toBeNull();
  expect(readdirSync(site.tmp)).toEqual([]);
  return r.err;
};

beforeEach(() => {
  site = makeSlurmSite();
});

describe('vsbatch without --vm is sbatch, argv untouched', () => {
  it.each([
    [['job.sh']],
    [['-N', '2', '--mem=4G', '-J', 'a b', 'job.sh', 'arg1', '--vm', 'x']],
    [['-N2', '-vH', '--nice', 'job.sh']],
    [['--frob', '--nod=1', '-c', '2', 'job.sh']],
    [['--array=1-10%2', '--', 'job.sh']],
    [['--wrap', 'echo hi', '-J', 'w']],
    [['-N1', ':', '-N2', 'job.sh']],
    [['missing.sh']],
  ])('%j', async (argv) => {
    script('job.sh', '#!/bin/sh\n#SBATCH -J plain\necho hi\n');
    const r = await vsbatch(site, argv);
    expect(r).toMatchObject({ code: 0, out: '', err: '' });
    expect(r.sbatch?.file).toBe(site.sbatch);
    expect(r.sbatch?.args).toEqual(argv);
    expect(r.sbatch?.input).toBeNull();
  });
  it('a STDIN job: the script read is handed to sbatch on its stdin; --usage/--version read none', async () => {
    const r = await vsbatch(site, ['-J', 'in'], { stdin: '#!/bin/sh\nhostname\n' });
    expect(r.sbatch).toMatchObject({ args: ['-J', 'in'], input: '#!/bin/sh\nhostname\n' });
    expect((await vsbatch(site, ['--usage'])).sbatch).toMatchObject({ args: ['--usage'], input: null });
    expect((await vsbatch(site, ['-V'])).sbatch?.input).toBeNull();
  });
  it('--help (or -h): vsbatch\'s options and every --vm key with its default, then sbatch\'s own help; needs no sbatch', async () => {
    for (const argv of [['--help'], ['-h', '--vm', 'vcpus=1'], ['--he', '--json']]) {
      const r = await vsbatch(site, argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^usage: vsbatch \[sbatch options\] \[--vm key=value/);
      expect(r.out).toContain('\n  vcpus=           an integer from 1 to 1024\n                   default: 1 (VCPUS_DEFAULT)\n');
      expect(r.sbatch).toMatchObject({ args: ['--help'], input: null });
    }
    site.writeConfig({ SLURM_SBATCH: '/nonexistent/sbatch' });
    const r = await vsbatch(site, ['--help']);
    expect(r.out).toContain('see sbatch(1) (`man sbatch`); the configured sbatch /nonexistent/sbatch is not installed here (SLURM_SBATCH)\n');
    expect(r.sbatch).toBeNull();
  });
  it("sbatch's exit code is vsbatch's; a missing sbatch is named", async () => {
    script('job.sh', '#!/bin/sh\n');
    expect((await vsbatch(site, ['job.sh'], { rc: 3 })).code).toBe(3);
    site.writeConfig({ SLURM_SBATCH: '/nonexistent/sbatch' });
    const r = await vsbatch(site, ['job.sh']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('the configured sbatch /nonexistent/sbatch is missing or not executable (SLURM_SBATCH)');
  });
  it('vsbatch\'s own --dry-run and --config are taken out, even for a plain job', async () => {
    script('job.sh', '#!/bin/sh\n');
    const r = await vsbatch(site, ['--dry-run', '--json', '--config', site.configPath, '-N1', 'job.sh']);
    expect(JSON.parse(r.out)).toEqual({ sbatch: [site.sbatch, '-N1', 'job.sh'], request: null, script: null });
    expect(r.sbatch).toBeNull();
  });
  it('a #SBATCH --vm after the first command is ignored as sbatch ignores it, with one line saying so', async () => {
    script('job.sh', '#!/bin/sh\nhostname\n#SBATCH --vm vcpus=2\n');
    const r = await vsbatch(site, ['job.sh']);
    expect(r.err).toBe('vsbatch: job.sh line 3: #SBATCH --vm comes after the first command (line 2), where sbatch reads no more directives: ignored, this job runs on the host, without a VM\n');
    expect(r.sbatch?.args).toEqual(['job.sh']);
  });
});

describe('vsbatch --vm: a VM job', () => {
  it('raises CPUs and memory per node, says so, and submits the wrapper under the script\'s name with its arguments', async () => {
    script('job.sh', '#!/bin/bash\n#SBATCH -J myjob\n#SBATCH --time=10\necho "in the VM"\n');
    const r = await vsbatch(site, ['-N', '2', '--vm', `${IMG},vcpus=2,ram=1G`, 'job.sh', 'a1', 'a 2']);
    expect(r.code).toBe(0);
    const args = r.sbatch?.args ?? [];
    // HOST_OS_CORE_COUNT 1 and HOST_OS_RAM_MB 2048 by default: 2+1 CPUs, 1G+2G per node
    // The comment marks the VM job for the nodes' Prolog (slurmd passes it, and little else).
    expect(args.slice(0, 5)).toEqual(['-N', '2', '--cpus-per-task=3', '--mem=3G', '--comment=vtorque-vm']);
    expect(args[5]).toMatch(new RegExp(`^${site.tmp}/vsbatch-[^/]+/job\\.sh$`));
    expect(args.slice(6)).toEqual(['a1', 'a 2']);
    expect(r.err).toBe('vsbatch: requested --cpus-per-task=3 (1 task(s) per node × 3 ≥ 3 CPUs per node) for the VMs\nvsbatch: requested --mem=3G (per node) for the VMs\n');
    const text = r.sbatch?.fileText ?? '';
    expect(text.split('\n').slice(0, 4)).toEqual(['#!/bin/sh', expect.stringMatching(/^#VTORQUE-REQUEST v1 /), '#SBATCH -J myjob', '#SBATCH --time=10']);
    expect(text).toContain('written by vsbatch. Slurm runs this as the job');
    const decoded = decodeJobScript(text, 'wrapper');
    expect(decoded?.request).toMatchObject({ img: 'debian-12-x86_64.qcow2', vcpus: 2, ram: 1024, vms_per_node: 1 });
    expect(decoded?.script).toBe('#!/bin/bash\n#SBATCH -J myjob\n#SBATCH --time=10\necho "in the VM"\n');
    expect(readdirSync(site.tmp)).toEqual([]);
  });
  it('#SBATCH --vm lines ask too; the --vm words leave the directive, the rest stays', async () => {
    script('job.sh', '#!/bin/sh\n#SBATCH -J "a b" --vm vcpus=4 --mem=64G\n#SBATCH --vm=ram=2G\nhostname\n');
    const r = await vsbatch(site, ['job.sh']);
    expect(r.code).toBe(0);
    expect(r.sbatch?.args.slice(0, 1)).toEqual(['--cpus-per-task=5']);
    const lines = (r.sbatch?.fileText ?? '').split('\n');
    expect(lines[2]).toBe('#SBATCH -J "a b" --mem=64G');
    expect(lines.filter((l) => l.startsWith('#SBATCH'))).toEqual(['#SBATCH -J "a b" --mem=64G']);
    expect(decodeJobScript(r.sbatch?.fileText ?? '', 'w')?.request).toMatchObject({ vcpus: 4, ram: 2048 });
  });
  it('a hostile directive next to --vm is rewritten so that sbatch reads the same words; the wrapper stays valid sh', async () => {
    const hostile = `$(rm -rf ~)\`id\` a'b`;
    script('job.sh', `#!/bin/sh\n#SBATCH -J "${hostile}" --vm vcpus=1 --comment=x # note\nhostname\n`);
    const r = await vsbatch(site, ['job.sh']);
    expect(r.code).toBe(0);
    const text = r.sbatch?.fileText ?? '';
    const line = text.split('\n').find((l) => l.startsWith('#SBATCH')) as string;
    expect(splitDirectiveWords(line.slice('#SBATCH'.length), 'w')).toEqual(['-J', hostile, '--comment=x']);
    const file = join(site.dir, 'w.sh');
    writeFileSync(file, text);
    expect(spawnSync('sh', ['-n', file]).status).toBe(0);
    script('both.sh', `#!/bin/sh\n#SBATCH --comment="a'b"'"c' --vm vcpus=1\n`);
    expect(refused(await vsbatch(site, ['both.sh']), 2)).toMatch(/^both.sh line 2: "--comment=a'b\\"c" holds both quote characters.*: expected the --vm on a line of its own$/);
  });
  it('the command line wins over the script per key, with a warning; a key twice in one place is refused', async () => {
    script('job.sh', '#!/bin/sh\n#SBATCH --vm vcpus=4\n');
    const r = await vsbatch(site, ['--vm', 'vcpus=2', 'job.sh']);
    expect(r.err).toContain('vsbatch: --vm: vcpus = "2" overrides vcpus = "4" of job.sh line 2 (the command line wins)\n');
    const twice = refused(await vsbatch(site, ['--vm', 'vcpus=1', '--vm', 'vcpus=2', 'job.sh']), 1);
    expect(twice).toMatch(/^--vm: vcpus = "2": expected vcpus once/);
  });
  it('--mem-per-cpu is raised as such, over the CPUs per node; --ntasks-per-node counts', async () => {
    script('job.sh', '#!/bin/sh\n#SBATCH --mem-per-cpu=256\n');
    const r = await vsbatch(site, ['--ntasks-per-node=2', '--vm', 'vcpus=3,ram=1G', 'job.sh']);
    expect(r.sbatch?.args.slice(0, 3)).toEqual(['--ntasks-per-node=2', '--cpus-per-task=2', '--mem-per-cpu=768M']);
  });
  it('enough already: nothing is added and nothing said', async () => {
    script('job.sh', '#!/bin/sh\n');
    const r = await vsbatch(site, ['-c', '8', '--mem=16G', '--vm', 'vcpus=1', 'job.sh']);
    expect(r.err).toBe('');
    expect(r.sbatch?.args.slice(0, 3)).toEqual(['-c', '8', '--mem=16G']);
  });
  it('--wrap: the command becomes the script, submitted as a file named wrap', async () => {
    const r = await vsbatch(site, ['--wrap', 'hostname', '--vm', 'vcpus=1']);
    expect(r.sbatch?.args.at(-1)).toMatch(/\/wrap$/);
    expect(r.sbatch?.args).not.toContain('--wrap');
    expect(decodeJobScript(r.sbatch?.fileText ?? '', 'w')?.script).toBe('#!/bin/sh\nhostname\n');
  });
  it("keeps the user's own comment (command line over #SBATCH) after the VM marker, and says so", async () => {
    script('c.sh', '#!/bin/sh\n#SBATCH --comment="from script"\nhostname\n');
    const fromScript = await vsbatch(site, ['--vm', 'vcpus=1', 'c.sh']);
    expect(fromScript.sbatch?.args).toContain('--comment=vtorque-vm from script');
    expect(fromScript.err).toContain('the job\'s comment is "vtorque-vm from script"');
    const fromLine = await vsbatch(site, ['--comment', 'mine', '--vm', 'vcpus=1', 'c.sh']);
    expect(fromLine.sbatch?.args.filter((a) => a.startsWith('--comment='))).toEqual(['--comment=vtorque-vm mine']);
    const plain = await vsbatch(site, ['--comment', 'mine', 'c.sh']);
    expect(plain.sbatch?.args).toEqual(['--comment', 'mine', 'c.sh']);
  });
  it('a STDIN VM job: the wrapper goes to sbatch on stdin', async () => {
    const r = await vsbatch(site, ['--vm', 'vcpus=1'], { stdin: '#!/bin/sh\n#SBATCH -J s\nhostname\n' });
    expect(r.sbatch?.args).toEqual(['--cpus-per-task=2', '--mem=2560M', '--comment=vtorque-vm']);
    expect(r.sbatch?.input).toMatch(/^#!\/bin\/sh\n#VTORQUE-REQUEST v1 \S+\n#SBATCH -J s\n/);
  });
  it('--dry-run --json prints the sbatch argv, the request and the wrapper; submits nothing', async () => {
    script('job.sh', '#!/bin/sh\nhostname\n');
    const r = await vsbatch(site, ['--dry-run', '--json', '-N', '2-4', '--vm', `${IMG},vcpus=2`, 'job.sh']);
    expect(r.sbatch).toBeNull();
    const j = JSON.parse(r.out);
    expect(j.sbatch).toEqual([site.sbatch, '-N', '2-4', '--cpus-per-task=3', '--mem=2560M', '--comment=vtorque-vm', '<wrapper>']);
    expect(j.request).toMatchObject({ version: 1, vcpus: 2, ram: 512, img: 'debian-12-x86_64.qcow2' });
    expect(j.script).toMatch(/^#!\/bin\/sh\n#VTORQUE-REQUEST v1 /);
  });
});

describe('vsbatch --vm refusals: one line naming the key or option and the accepted form', () => {
  beforeEach(() => {
    script('job.sh', '#!/bin/sh\nhostname\n');
  });
  it.each([
    [['--vm', 'colour=blue', 'job.sh'], 2, /^--vm: unknown -vm key "colour"; valid keys: img, distro/],
    [['--vm', 'ram=lots', 'job.sh'], 1, /^--vm: ram = "lots": expected a size like 2048M, 4G or 1T/],
    [['--vm'], 2, /^--vm needs a value: expected --vm key=value\[,key=value\.\.\.\]/],
    [['--vm=', 'job.sh'], 2, /^--vm needs a value: expected --vm key=value/],
    [['--json', '--vm', 'vcpus=1', 'job.sh'], 2, /^--json is only valid with --dry-run: expected --dry-run --json$/],
    [['--mem-per-gpu=1G', '--vm', 'vcpus=1', 'job.sh'], 1, /^--mem-per-gpu \(command line\) with --vm: .*expected --mem \(per node\) or --mem-per-cpu instead$/],
    [['--mem=1.5G', '--vm', 'vcpus=1', 'job.sh'], 1, /^--mem = "1.5G" \(command line\): expected a Slurm size like/],
    [['-c', 'two', '--vm', 'vcpus=1', 'job.sh'], 1, /^--cpus-per-task = "two": expected a whole number ≥ 1 in a --vm job$/],
    [['-N1', ':', '-N1', '--vm', 'vcpus=1', 'job.sh'], 1, /^heterogeneous jobs .* with --vm are not supported yet: expected one group of options$/],
    [['--wrap', 'x', '--vm', 'vcpus=1', 'job.sh'], 2, /^--wrap takes no script file .*: expected --wrap "command" or a script, not both$/],
    [['--vm', 'vcpus=1', '-J'], 2, /^option -J requires a value: expected -J VALUE$/],
    [['--vm', 'vcpus=1', 'nosuch.sh'], 1, /^script file "nosuch.sh" cannot be loaded - ENOENT$/],
  ])('%j', async (argv, code, message) => {
    expect(refused(await vsbatch(site, argv as string[]), code as number)).toMatch(message as RegExp);
  });
  it.each([
    ['echo\n', /^bad.sh line 1: sbatch takes only a script whose first line starts with #! .*: expected e.g. #!\/bin\/sh$/],
    ['#!/bin/sh\r\nhostname\r\n', /^bad.sh: DOS line breaks .*: expected UNIX line breaks/],
    ['#!/bin/sh\n#SBATCH -J "open\n', /^bad.sh line 2: unmatched " in the #SBATCH directive .*: expected a closing "$/],
    ['#!/bin/sh\n#PBS -l mem=8gb\n', /^bad.sh line 2: "#PBS -l mem=8gb": sbatch reads #PBS\/#BSUB lines too, .*: expected the same as an #SBATCH line, or --ignore-pbs$/],
    ['#!/bin/sh\n#SBATCH --vm\n', /^#SBATCH --vm needs a value: expected #SBATCH --vm key=value/],
  ])('script %j', async (text, message) => {
    script('bad.sh', text);
    expect(refused(await vsbatch(site, ['--vm', 'vcpus=1', 'bad.sh']), 2)).toMatch(message);
  });
  it('#PBS lines are fine with --ignore-pbs (and stay out of the wrapper)', async () => {
    script('pbs.sh', '#!/bin/sh\n#PBS -l mem=8gb\n#SBATCH -J p\n');
    const r = await vsbatch(site, ['--ignore-pbs', '--vm', 'vcpus=1', 'pbs.sh']);
    expect(r.code).toBe(0);
    expect(r.sbatch?.fileText).not.toContain('#PBS');
  });
});
