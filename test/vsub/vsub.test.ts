import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { decodeJobScript } from '../../src/core/contract/job-script.v1.js';
import { makeSite, type TestSite } from '../helpers/site.js';
import { vsub } from '../helpers/vsub-harness.js';

let site: TestSite;
const IMG = 'img=debian-12-x86_64.qcow2';
const script = (name: string, text: string): string => {
  writeFileSync(join(site.cwd, name), text);
  return name;
};
const lOf = (args: string[]): string[] => args.flatMap((a, i) => (a === '-l' ? [args[i + 1] as string] : []));

beforeEach(() => {
  site = makeSite();
});

describe('vsub: plain jobs pass through to qsub unchanged', () => {
  it.each([
    [['job.sh']],
    [['-N', 'x', '-l', 'nodes=2', 'job.sh']],
    [['-lnodes=2:ppn=4', '-q', 'batch', 'job.sh']],
    [['job.sh', '-N', 'after']],
    [['-Vz', '-F', 'a b c', 'job.sh']],
    [['-W', 'x=NACCESSPOLICY:SINGLEJOB', '-v', 'A=1,B', 'job.sh']],
    [['--', 'job.sh']],
  ])('%j', async (argv) => {
    script('job.sh', '#!/bin/sh\n#PBS -N plain\necho hi\n');
    const r = await vsub(site, argv);
    expect(r.code).toBe(0);
    expect(r.qsub?.file).toBe(site.qsub);
    expect(r.qsub?.args).toEqual(argv);
    expect(r.qsub?.input).toBeNull();
    expect(r.out + r.err).toBe('');
  });

  it('STDIN job: the script read from stdin is handed to qsub on its stdin', async () => {
    const r = await vsub(site, ['-N', 'fromstdin'], { stdin: 'echo hello\n' });
    expect(r.qsub?.args).toEqual(['-N', 'fromstdin']);
    expect(r.qsub?.input).toBe('echo hello\n');
  });

  it('interactive and --version do not read stdin', async () => {
    expect((await vsub(site, ['-I', '-l', 'nodes=1'])).qsub?.input).toBeNull();
    expect((await vsub(site, ['--version'])).qsub?.args).toEqual(['--version']);
  });

  it("qsub's exit code is vsub's exit code", async () => {
    script('job.sh', 'echo\n');
    expect((await vsub(site, ['job.sh'], { qsubRc: 3 })).code).toBe(3);
  });

  it('a missing qsub is named', async () => {
    site.writeConfig({ PBS_QSUB_ON_NODES: '/nonexistent/qsub' });
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['job.sh']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('/nonexistent/qsub');
  });

  it('front-end hosts use PBS_QSUB_ON_FE', async () => {
    site.writeConfig({ REGEX_FE: 'login[0-9]+', PBS_QSUB_ON_FE: '/bin/true' });
    script('job.sh', 'echo\n');
    expect((await vsub(site, ['job.sh'], { hostname: 'login2' })).qsub?.file).toBe('/bin/true');
    expect((await vsub(site, ['job.sh'], { hostname: 'node01' })).qsub?.file).toBe(site.qsub);
  });
});

describe('vsub: VM jobs', () => {
  it('writes a wrapper with the frozen request on line 2 and raises the resources', async () => {
    script('job.sh', '#!/bin/bash\n#PBS -N myjob\n#PBS -l walltime=1:00:00\necho "in the VM"\n');
    const r = await vsub(site, ['-vm', `${IMG},vcpus=2,ram=1G`, 'job.sh']);
    expect(r.code).toBe(0);
    const args = r.qsub?.args ?? [];
    expect(args.at(-1)).toMatch(/\/job\.sh$/);
    expect(lOf(args)).toEqual(['nodes=1:ppn=3,mem=3072mb']);
    expect(args).toContain('-n');
    const text = r.qsub?.fileText ?? '';
    expect(text.split('\n')[1]).toMatch(/^#VTORQUE-REQUEST v1 /);
    expect(text).toContain('#PBS -N myjob\n#PBS -l walltime=1:00:00\n');
    const decoded = decodeJobScript(text, 'test');
    expect(decoded?.request).toMatchObject({ img: 'debian-12-x86_64.qcow2', vcpus: 2, ram: 1024, vms_per_node: 1, distro: 'debian' });
    expect(decoded?.script).toBe('#!/bin/bash\n#PBS -N myjob\n#PBS -l walltime=1:00:00\necho "in the VM"\n');
    expect(readdirSync(site.tmp)).toEqual([]);
  });

  it.each([
    [['-lnodes=2', '-vm', IMG], ['nodes=2:ppn=2,mem=5120mb']],
    [['-l', 'nodes=2:ppn=1', '-l', 'walltime=1:00:00', '-vm', IMG], ['nodes=2:ppn=2,mem=5120mb']],
    [['-lnodes=node1+node2:ppn=4', '-vm', IMG], ['nodes=node1:ppn=2+node2:ppn=4,mem=5120mb']],
    [['-l', 'nodes=3:ppn=1#excl,mem=1gb', '-vm', IMG], ['nodes=3:ppn=2#excl,mem=7680mb']],
    // Every memory limit given binds on every node: vmem is the job's total like mem, pmem per slot (ppn).
    [['-l', 'nodes=2:ppn=4,vmem=1gb,pmem=100mb', '-vm', `${IMG},vms_per_node=2,vcpus=1,ram=256M`], ['mem=5120mb,vmem=5120mb,pmem=640mb']],
  ])('a VM job on several nodes %j asks every node for its VMs: %j', async (argv, expected) => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, [...argv, 'job.sh']);
    expect(r.code, r.err).toBe(0);
    expect(lOf(r.qsub?.args ?? []).slice(lOf(argv).length)).toEqual(expected);
    expect(r.err).toMatch(/vsub: (raised|requested) .* for the VMs/);
    expect(decodeJobScript(r.qsub?.fileText ?? '', 't')?.request).toMatchObject({ img: 'debian-12-x86_64.qcow2' });
  });

  it.each([
    [['-l', 'nodes=1:ppn=8,mem=64gb', '-vm', IMG], []],
    [['-l', 'procs=1', '-vm', IMG], ['procs=2,mem=2560mb']],
    [['-vm', `${IMG},vms_per_node=2,vcpus=1,ram=256M`], ['nodes=1:ppn=3,mem=2560mb']],
  ])('resources %j → %j', async (argv, expected) => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, [...argv, 'job.sh']);
    expect(r.code).toBe(0);
    const args = r.qsub?.args ?? [];
    expect(lOf(args).slice(lOf(argv).length)).toEqual(expected);
  });

  it('options after the script, clustered flags, -F, -W, -v and -N with spaces are kept in order', async () => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['-Vz', 'job.sh', '-N', 'a b', '-F', 'x y', '-W', 'x=FLAGS:ADVRES', '-v', 'A=1', '-vm', IMG]);
    expect(r.code).toBe(0);
    expect(r.qsub?.args.slice(0, 9)).toEqual(['-Vz', '-N', 'a b', '-F', 'x y', '-W', 'x=FLAGS:ADVRES', '-v', 'A=1']);
  });

  it('inline #PBS -vm lines make a VM job and leave the other directives working', async () => {
    script('job.sh', '#!/bin/sh\n#PBS -N inline\n#PBS -vm img=centos-7.img,vcpus=2\n#PBS -l nodes=1:ppn=1\necho\n');
    const r = await vsub(site, ['job.sh']);
    expect(r.code).toBe(0);
    expect(lOf(r.qsub?.args ?? [])).toEqual(['nodes=1:ppn=3,mem=2560mb']);
    const text = r.qsub?.fileText ?? '';
    expect(text).toContain('#PBS -N inline\n#PBS -l nodes=1:ppn=1\n');
    expect(text).not.toContain('#PBS -vm');
    expect(decodeJobScript(text, 't')?.request).toMatchObject({ img: 'centos-7.img', distro: 'centos', vcpus: 2 });
  });

  it('a directive mixing -vm with other options keeps the others', async () => {
    script('job.sh', '#PBS -N "two words" -vm vcpus=1 -m abe\necho\n');
    const r = await vsub(site, ['job.sh']);
    expect(r.qsub?.fileText).toContain("#PBS -N 'two words' -m abe\n");
  });

  it('the command line wins over the script for the same -vm key', async () => {
    script('job.sh', '#PBS -vm vcpus=3,ram=1G\necho\n');
    const r = await vsub(site, ['-vm', 'vcpus=1', 'job.sh']);
    expect(decodeJobScript(r.qsub?.fileText ?? '', 't')?.request).toMatchObject({ vcpus: 1, ram: 1024 });
  });

  it('-C changes the directive prefix', async () => {
    script('job.sh', '#MY -vm vcpus=2\n#PBS -vm vcpus=9\necho\n');
    const r = await vsub(site, ['-C', '#MY', 'job.sh']);
    expect(decodeJobScript(r.qsub?.fileText ?? '', 't')?.request.vcpus).toBe(2);
  });

  it('directives stop at the first command, as in qsub', async () => {
    script('job.sh', '#!/bin/sh\necho first\n#PBS -vm vcpus=2\n');
    const r = await vsub(site, ['job.sh']);
    expect(r.qsub?.args).toEqual(['job.sh']);
  });

  it('STDIN VM job: the wrapper goes to qsub on stdin and the job keeps the name STDIN', async () => {
    const r = await vsub(site, ['-l', 'walltime=10:00'], { stdin: '#PBS -vm vcpus=1\necho from stdin\n' });
    expect(r.code).toBe(0);
    expect(r.qsub?.args.some((a) => a.startsWith('/'))).toBe(false);
    expect(decodeJobScript(r.qsub?.input ?? '', 't')?.script).toBe('#PBS -vm vcpus=1\necho from stdin\n');
  });

  it.each([[['-vm', 'vcpus=1', '--', 'job.sh']], [['-vm', 'vcpus=1', '-']]])('script operand forms %j', async (argv) => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, argv, { stdin: 'echo stdin\n' });
    expect(r.code).toBe(0);
    expect(r.qsub?.args).not.toContain('--');
  });

  it('booleans in every spelling of the original', async () => {
    script('job.sh', 'echo\n');
    site.writeConfig({ VRDMA_ENABLED: true, IOCM_ENABLED: true });
    for (const [text, value] of [['Enabled', true], ['YES', true], ['true', true], ['0', true], ['disabled', false], ['No', false], ['FALSE', false], ['1', false]] as const) {
      const r = await vsub(site, ['-vm', `vrdma=${text},vcpu_pinning=${text}`, 'job.sh']);
      expect(decodeJobScript(r.qsub?.fileText ?? '', 't')?.request).toMatchObject({ vrdma: value, vcpu_pinning: value });
    }
  });

  it('ram in K/M/G/T becomes MiB', async () => {
    script('job.sh', 'echo\n');
    for (const [text, mib] of [['512M', 512], ['2G', 2048], ['1048576K', 1024], ['4096', 4096], ['1t', 1048576]] as const) {
      const r = await vsub(site, ['--dry-run', '--json', '-vm', `ram=${text}`, 'job.sh']);
      expect(JSON.parse(r.out).request.ram).toBe(mib);
    }
  });

  it('files named by the request are embedded as data (pinning, vm_prologue, vm_epilogue, metadata, disk)', async () => {
    site.writeConfig({ METADATA_ALLOWED_KEYS: ['packages'], QEMU_USER: 'owner', DISK_DIRS: [site.cwd] });
    script('pin.txt', '# vm 1\n2 3\n');
    script('pre.sh', 'echo prologue\n');
    script('post.sh', 'echo epilogue\n');
    script('meta.yaml', 'packages: [htop]\n');
    script('data.qcow2', 'disk');
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['--dry-run', '--json', '-vm', 'vcpus=2,vcpu_pinning=pin.txt,vm_prologue=pre.sh,vm_epilogue=post.sh,metadata=meta.yaml,disk=data.qcow2,fs_type=ramdisk', 'job.sh']);
    expect(r.code).toBe(0);
    const req = JSON.parse(r.out).request;
    expect(req.vcpu_pinning).toEqual({ path: join(site.cwd, 'pin.txt'), cpus: [[2, 3]] });
    expect(req.vm_prologue).toEqual({ path: join(site.cwd, 'pre.sh'), content: 'echo prologue\n' });
    expect(req.vm_epilogue.content).toBe('echo epilogue\n');
    expect(req.metadata.data).toEqual({ packages: ['htop'] });
    expect(req.disk).toBe(join(site.cwd, 'data.qcow2'));
    expect(req.fs_type).toBe('ramdisk');
  });

  it('a metadata package name that could break out of its YAML line is refused at submit time, naming the key', async () => {
    site.writeConfig({ METADATA_ALLOWED_KEYS: ['packages'] });
    script('meta.yaml', 'packages: ["htop\\nruncmd: [[id]]"]\n');
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['-vm', `${IMG},metadata=meta.yaml`, 'job.sh']);
    expect(r.code).toBe(1);
    expect(r.qsub).toBeNull();
    expect(r.err).toMatch(/metadata: packages = .*expected a list of package names/);
  });

  it('--dry-run --json prints one object and submits nothing', async () => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['--dry-run', '--json', '-N', 'x', '-vm', IMG, 'job.sh']);
    expect(r.qsub).toBeNull();
    const obj = JSON.parse(r.out);
    expect(Object.keys(obj)).toEqual(['qsub', 'request', 'script']);
    expect(obj.qsub.slice(0, 3)).toEqual([site.qsub, '-N', 'x']);
    expect(obj.script.split('\n')[1]).toMatch(/^#VTORQUE-REQUEST v1 /);
    expect(readdirSync(site.tmp)).toEqual([]);
  });

  it('does not add -n twice, and not at all when exclusive allocation is off', async () => {
    script('job.sh', 'echo\n');
    expect((await vsub(site, ['-n', '-vm', IMG, 'job.sh'])).qsub?.args.filter((a) => a === '-n')).toEqual(['-n']);
    site.writeConfig({ PBS_EXCLUSIVE_NODE_ALLOC: false });
    expect((await vsub(site, ['-vm', IMG, 'job.sh'])).qsub?.args).not.toContain('-n');
  });

  it('the wrapper file is removed even when qsub fails, and its code is returned', async () => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['-vm', IMG, 'job.sh'], { qsubRc: 7 });
    expect(r.code).toBe(7);
    expect(readdirSync(site.tmp)).toEqual([]);
  });

  it('DEBUG / TRACE in the environment are recorded in the request', async () => {
    script('job.sh', 'echo\n');
    const r = await vsub(site, ['--dry-run', '--json', '-vm', IMG, 'job.sh'], { env: { TRACE: 'true' } });
    expect(JSON.parse(r.out).request).toMatchObject({ debug: true, trace: true });
  });
});

describe('vsub: errors', () => {
  beforeEach(() => {
    script('job.sh', 'echo\n');
  });
  const fails = async (argv: string[], code: number, ...needles: string[]) => {
    const r = await vsub(site, argv);
    expect(r.code).toBe(code);
    for (const n of needles) expect(r.err).toContain(n);
    expect(r.qsub).toBeNull();
    expect(readdirSync(site.tmp)).toEqual([]);
  };

  it('unknown key → exit 2 listing the valid keys', () => fails(['-vm', 'cpus=2', 'job.sh'], 2, '"cpus"', 'vcpus', 'vms_per_node', 'unclot_shmem'));
  it('bad value → exit 1 naming key, value and accepted form', () => fails(['-vm', 'vcpus=abc', 'job.sh'], 1, 'vcpus', '"abc"', 'an integer from 1'));
  it('every bad value is reported at once', () => fails(['-vm', 'vcpus=0,ram=12X,fs_type=nfs', 'job.sh'], 1, 'vcpus', 'ram', 'fs_type'));
  it('an empty value is refused', () => fails(['-vm', 'vcpus=', 'job.sh'], 1, 'vcpus'));
  it('image outside the pool → exit 1 listing available images', () => fails(['-vm', 'img=other.qcow2', 'job.sh'], 1, 'other.qcow2', 'debian-12-x86_64.qcow2', 'centos-7.img'));
  it('image path traversal is refused', () => fails(['-vm', 'img=../../etc/shadow.img', 'job.sh'], 1, 'img'));
  it('interactive VM job → not supported yet', () => fails(['-I', '-vm', IMG], 1, 'not supported yet'));
  it('-vm without a value → exit 2', () => fails(['job.sh', '-vm'], 2, '-vm needs a value'));
  it('-vm followed by an option → exit 2', () => fails(['-vm', '-l', 'nodes=1', 'job.sh'], 2, '-vm needs a value'));
  it('an argument after the script → exit 2', () => fails(['-vm', IMG, 'job.sh', 'extra'], 2, 'extra'));
  it('vms_per_node above MAX_VMS_PER_NODE', () => fails(['-vm', 'vms_per_node=9', 'job.sh'], 1, 'MAX_VMS_PER_NODE'));
  it('a missing vm_prologue file', () => fails(['-vm', 'vm_prologue=nope.sh', 'job.sh'], 1, 'vm_prologue'));
  it('metadata keys outside the site policy', () => {
    script('m.yaml', 'bootcmd: [id]\ndisable_root: false\n');
    return fails(['-vm', 'metadata=m.yaml', 'job.sh'], 1, 'metadata', 'bootcmd');
  });
  it('a pinning file that does not match vcpus', () => {
    script('pin.txt', '0 1 2\n');
    return fails(['-vm', 'vcpus=2,vcpu_pinning=pin.txt', 'job.sh'], 1, 'vcpu_pinning');
  });
  it('a disabled host refuses VM jobs', async () => {
    site.writeConfig({ DISABLED_HOSTS_LIST: '^front' });
    const r = await vsub(site, ['-vm', IMG, 'job.sh'], { hostname: 'frontend1' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('disabled');
  });
  it('an invalid site config is reported before anything happens', async () => {
    writeFileSync(site.configPath, 'VCPUS_DEFAULT: many\nNO_SUCH_KEY: 1\n');
    const r = await vsub(site, ['-vm', IMG, 'job.sh']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('VCPUS_DEFAULT');
    expect(r.err).toContain('NO_SUCH_KEY');
  });
});
