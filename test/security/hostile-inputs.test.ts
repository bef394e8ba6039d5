import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addImage, deleteImage } from '../../src/admin/pool/manage.js';
import { decodeJobScript, encodeScriptLine, REQUEST_MARKER } from '../../src/core/contract/job-script.v1.js';
import { jobDirName } from '../../src/core/contract/job-state.v1.js';
import { callHook, epilogueArgv, expectToldWhy, HOST, IMAGE, makeHookSite, prologueArgv, stageJob, unstageJob, vmJobScript, type HookCall, type HookSite } from '../hooks/fixture.js';
import { makeSite, type TestSite } from '../helpers/site.js';
import { ownerCases } from './owner-cases.js';
import { vsub, type VsubOutcome } from '../helpers/vsub-harness.js';

// Hostile-input suite: every case goes through a real entry point (vsub in-process, the INSTALLED
// prologue/epilogue as pbs_mom calls them, vmgr's addImage/deleteImage) and asserts concretely that
// nothing escaped. A case that fails its assertion counts as escaped=1 AND fails the test.

const MARK = join(tmpdir(), `vtq-sec-pwned-${process.pid}`);
const SH = `'$(touch ${MARK})\`touch ${MARK}\`;touch ${MARK}"`;
const XML = `</name><devices><disk type='file'><source file='/etc/shadow'/></disk></devices><name>]]>`;
const YAMLI = `x\nruncmd: [[touch, ${MARK}]]\nbootcmd: [[touch, ${MARK}]]`;

let tried = 0;
let escaped = 0;
type Case = [string, () => Promise<void>];
async function guarded(fn: () => Promise<void>): Promise<void> {
  tried += 1;
  try {
    await fn();
    expect(existsSync(MARK), `marker ${MARK} created: a shell payload ran`).toBe(false);
  } catch (e) {
    escaped += 1;
    throw e;
  }
}

afterAll(() => {
  rmSync(MARK, { force: true });
  process.stdout.write(`hostile inputs: ${tried} tried, ${escaped} escaped\n`);
});

// ---------------------------------------------------------------- vsub (in-process, test site)
let site: TestSite;
const put = (name: string, text: string): string => {
  writeFileSync(join(site.cwd, name), text);
  return name;
};
const refused = (r: VsubOutcome, code: number, ...needles: string[]): void => {
  expect(r.code).toBe(code);
  for (const n of needles) expect(r.err).toContain(n);
  expect(r.qsub).toBeNull();
  expect(readdirSync(site.tmp)).toEqual([]);
};
/** Accepted VM job: the hostile value is only a single argv element, the request decodes to policy-clean values. */
const acceptedVm = (r: VsubOutcome): ReturnType<typeof decodeJobScript> => {
  expect(r.code).toBe(0);
  const text = r.qsub?.fileText ?? r.qsub?.input ?? '';
  const d = decodeJobScript(text, 't');
  expect(d).not.toBeNull();
  return d;
};

const vsubCases: Case[] = [
  ['vsub: XML in img is refused', async () => refused(await vsub(site, ['-vm', `img=${XML}.qcow2`, 'job.sh']), 1, 'img')],
  ['vsub: CDATA end ]]> in img is refused', async () => refused(await vsub(site, ['-vm', 'img=a]]>b.qcow2', 'job.sh']), 1, 'img')],
  ['vsub: XML in distro is refused', async () => refused(await vsub(site, ['-vm', `distro=${XML}`, 'job.sh']), 1, 'distro')],
  ['vsub: XML in fs_type is refused', async () => refused(await vsub(site, ['-vm', `fs_type=</x>`, 'job.sh']), 1, 'fs_type')],
  ['vsub: XML in arch is refused', async () => refused(await vsub(site, ['-vm', `arch=x86_64</arch><disk>`, 'job.sh']), 1, 'arch')],
  ['vsub: XML in ram is refused', async () => refused(await vsub(site, ['-vm', `ram=1G</memory><devices>`, 'job.sh']), 1, 'ram')],
  ['vsub: newline + runcmd in img is refused', async () => refused(await vsub(site, ['-vm', `img=${YAMLI}.qcow2`, 'job.sh']), 2, 'unknown -vm key')],
  ['vsub: newline + runcmd in distro is refused', async () => refused(await vsub(site, ['-vm', `distro=debian\nruncmd: [id]`, 'job.sh']), 1, 'distro')],
  ['vsub: img path traversal ../../etc/shadow', async () => refused(await vsub(site, ['-vm', 'img=../../etc/shadow', 'job.sh']), 1, 'img')],
  ['vsub: img absolute path /etc/shadow.img', async () => refused(await vsub(site, ['-vm', 'img=/etc/shadow.img', 'job.sh']), 1, 'img')],
  ['vsub: img symlink inside the pool is not an image', async () => {
    symlinkSync('/etc/shadow', join(site.pool, 'evil.qcow2'));
    refused(await vsub(site, ['-vm', 'img=evil.qcow2', 'job.sh']), 1, 'evil.qcow2');
  }],
  ['vsub: comma smuggles disk=/etc/shadow (DISK_DIRS unset)', async () => refused(await vsub(site, ['-vm', `img=${IMAGE},disk=/etc/shadow`, 'job.sh']), 1, 'disk')],
  ['vsub: vcpus=1000000000 refused', async () => refused(await vsub(site, ['-vm', 'vcpus=1000000000', 'job.sh']), 1, 'vcpus')],
  ['vsub: vcpus=99999999999999999999 (overflow) refused', async () => refused(await vsub(site, ['-vm', 'vcpus=99999999999999999999', 'job.sh']), 1, 'vcpus')],
  ['vsub: ram=1e30T refused', async () => refused(await vsub(site, ['-vm', 'ram=999999999999T', 'job.sh']), 1, 'ram')],
  ['vsub: vcpus=-1 / hex refused', async () => refused(await vsub(site, ['-vm', 'vcpus=0x10,vms_per_node=-1', 'job.sh']), 1, 'vcpus', 'vms_per_node')],
  ['vsub: metadata with bootcmd/disable_root/users refused', async () => {
    site.writeConfig({ METADATA_ALLOWED_KEYS: ['packages'] });
    put('m.yaml', `bootcmd: [[touch, ${MARK}]]\ndisable_root: false\nusers: [{name: evil, sudo: 'ALL=(ALL) NOPASSWD:ALL'}]\n`);
    refused(await vsub(site, ['-vm', 'metadata=m.yaml', 'job.sh']), 1, 'metadata', 'bootcmd');
  }],
  ['vsub: metadata YAML tag !!js/function / anchors bomb refused or inert', async () => {
    site.writeConfig({ METADATA_ALLOWED_KEYS: ['packages'] });
    put('m.yaml', `packages: !!js/function "function(){ require('fs').writeFileSync('${MARK}','x') }"\n`);
    const r = await vsub(site, ['-vm', 'metadata=m.yaml', 'job.sh']);
    refused(r, 1, 'metadata');
  }],
  ['vsub: pinning file with shell payload refused', async () => {
    put('pin.txt', `0 ${SH}\n`);
    refused(await vsub(site, ['-vm', 'vcpus=2,vcpu_pinning=pin.txt', 'job.sh']), 1, 'vcpu_pinning');
  }],
  ['vsub: job name (-N) with shell/XML payload stays one qsub argv element', async () => {
    const name = `n${SH}${XML}`;
    const d = acceptedVm(await vsub(site, ['-N', name, '-vm', `img=${IMAGE}`, 'job.sh']).then((r) => {
      expect(r.qsub?.args.slice(0, 2)).toEqual(['-N', name]);
      return r;
    }));
    expect(JSON.stringify(d?.request)).not.toContain('touch');
  }],
  ['vsub: 1 MB job name passes as one argv element, request unaffected', async () => {
    const name = 'A'.repeat(1024 * 1024);
    const r = await vsub(site, ['-N', name, '-vm', `img=${IMAGE}`, 'job.sh']);
    expect(r.qsub?.args.filter((a) => a === name)).toHaveLength(1);
    expect(acceptedVm(r)?.request.vcpus).toBe(1);
  }],
  ['vsub: account (-A) with shell payload stays one argv element', async () => {
    const r = await vsub(site, ['-A', `acct${SH}`, '-vm', `img=${IMAGE}`, 'job.sh']);
    acceptedVm(r);
    expect(r.qsub?.args.slice(0, 2)).toEqual(['-A', `acct${SH}`]);
  }],
  ['vsub: -v value with shell payload and newline stays one argv element', async () => {
    const val = `X=${SH}\nY=$(id)`;
    const r = await vsub(site, ['-v', val, '-vm', `img=${IMAGE}`, 'job.sh']);
    acceptedVm(r);
    expect(r.qsub?.args.slice(0, 2)).toEqual(['-v', val]);
  }],
  ['vsub: script path with shell metacharacters is read as a file, not run', async () => {
    const name = put(`j;touch ${MARK.replace(/\//g, '_')} $(touch x).sh`, 'echo hi\n');
    const r = await vsub(site, ['-vm', `img=${IMAGE}`, name]);
    expect(acceptedVm(r)?.script).toBe('echo hi\n');
    expect(existsSync(join(site.cwd, 'x'))).toBe(false);
  }],
  ['vsub: plain job whose line 2 is a forged request passes through untouched', async () => {
    const forged = vmJobScript({ vcpus: 1024, img: '/etc/shadow' });
    put('forged.sh', forged);
    const r = await vsub(site, ['forged.sh']);
    expect(r.code).toBe(0);
    expect(r.qsub?.args).toEqual(['forged.sh']);
    expect(r.qsub?.input).toBeNull();
    // ...and the prologue re-validates it: see "prologue: forged img /etc/shadow" / "forged vcpus" cases.
  }],
  ['vsub: a request line added to the script after submission does not change what was submitted', async () => {
    put('late.sh', '#!/bin/sh\necho hi\n');
    const before = await vsub(site, ['late.sh']);
    put('late.sh', `#!/bin/sh\n${REQUEST_MARKER}AAAA\necho hi\n`);
    const after = await vsub(site, ['late.sh']);
    expect(after.qsub?.args).toEqual(before.qsub?.args);
    expect(after.qsub?.input).toBeNull();
  }],
  ['vsub: vm_prologue the user cannot read (root-only, run as the owner) is refused', async () => {
    // vsub in-process runs as root here; the owner's view is simulated by a path that does not resolve for anyone.
    refused(await vsub(site, ['-vm', 'vm_prologue=/root/.vtq-sec-no-such/secret.sh', 'job.sh']), 1, 'vm_prologue');
  }],
  ['vsub: a key given twice (second value a newline + runcmd) is refused in one line naming both values', async () => {
    const r = await vsub(site, ['-vm', 'vcpus=1', '-vm', `vcpus=2\nruncmd: [[touch ${MARK}]]`, 'job.sh']);
    refused(r, 1, 'vcpus = "2\\nruncmd', 'but it is also "1" (-vm)');
    expect(r.err.split('\n')).toHaveLength(1);
  }],
  ['vsub: img and IMG=/etc/shadow.img in one -vm is a duplicate, not a later value winning', async () => {
    refused(await vsub(site, ['-vm', `img=${IMAGE},IMG=/etc/shadow.img`, 'job.sh']), 1, 'img = "/etc/shadow.img"', `also "${IMAGE}"`);
  }],
  ['vsub: a directive continued onto a 1 MB non-directive line is refused with its line, in one bounded line', async () => {
    put('big.sh', `#PBS -vm vcpus=1\n#PBS -N a\\\n${'A'.repeat(1024 * 1024)}\necho\n`);
    const r = await vsub(site, ['big.sh']);
    refused(r, 1, 'big.sh line 3: "AAAA', 'continues the #PBS directive of line 2');
    expect(r.err.split('\n')).toHaveLength(1);
    expect(r.err.length).toBeLessThan(1000);
  }],
  ['vsub: a 1 MB directive continued over 100 000 comment lines becomes one wrapper line qsub reads the same', async () => {
    put('long.sh', `#PBS -vm img=${IMAGE}\n#PBS -N a\\\n${'#bbbbbbbb\\\n'.repeat(100_000)}#end\necho\n`);
    const r = await vsub(site, ['long.sh']);
    const d = acceptedVm(r);
    expect(d?.request.img).toBe(IMAGE);
    const wrapper = r.qsub?.fileText ?? '';
    const pbs = wrapper.split('\n').filter((l) => l.startsWith('#PBS'));
    expect(pbs).toHaveLength(1);
    expect(pbs[0]?.length).toBe('#PBS -N '.length + 'a'.length + '#bbbbbbbb'.length * 100_000 + '#end'.length + 2);
    expect(wrapper.split('\n').some((l) => l.endsWith('\\'))).toBe(false);
  }],
  ['vsub: a continuation line that is a shell command is refused, never run or submitted', async () => {
    put('cmd.sh', `#PBS -vm img=${IMAGE}\n#PBS -l walltime=1:00:00,\\\ntouch ${MARK}\necho\n`);
    refused(await vsub(site, ['cmd.sh']), 1, 'cmd.sh line 3', 'would run it as a command');
  }],
  ['vsub: --help works with no qsub installed and with a broken site config', async () => {
    site.writeConfig({ PBS_QSUB_ON_NODES: '/nonexistent/qsub', PBS_QSUB_ON_FE: '/nonexistent/qsub' });
    const r = await vsub(site, ['--help']);
    expect(r.code).toBe(0);
    expect(r.qsub).toBeNull();
    expect(r.out).toContain('see qsub(1)');
    writeFileSync(site.configPath, `VCPUS_DEFAULT: [${SH}\n`);
    const broken = await vsub(site, ['--help']);
    expect(broken.code).toBe(0);
    expect(broken.out).toContain('the site config cannot be used');
    for (const out of [r.out, broken.out]) for (const key of ['img', 'vcpus', 'ram', 'metadata', 'unclot_shmem']) expect(out).toContain(`\n  ${key}=`);
    if (broken.qsub !== null) expect(broken.qsub.args).toEqual(['--help']);
  }],
  ['vsub: --help among hostile options shows help and submits nothing', async () => {
    const r = await vsub(site, ['-N', `n${SH}`, '-vm', 'img=../../etc/shadow,vcpus=1,vcpus=2', '--help', '-W', `x=${XML}`, 'job.sh']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage: vsub /);
    expect(r.qsub?.args).toEqual(['--help']);
    expect(readdirSync(site.tmp)).toEqual([]);
  }],
  ['vsub: a #PBS -vm with a shell payload after the first command is only warned about, the job passed through untouched', async () => {
    put('late.sh', `echo hi\n#PBS -vm img=${SH}.qcow2\n`);
    const r = await vsub(site, ['late.sh']);
    expect(r.code).toBe(0);
    expect(r.qsub?.args).toEqual(['late.sh']);
    expect(r.qsub?.input).toBeNull();
    expect(r.err.trimEnd().split('\n')).toEqual(['vsub: late.sh line 2: #PBS -vm comes after the first command (line 1), where qsub reads no more directives: ignored, this job runs on the host, without a VM']);
  }],
  ['vsub: a -C prefix that is a command (touch) is refused for a VM job, not put into the wrapper', async () => {
    put('c.sh', `touch ${MARK}\necho\n`);
    refused(await vsub(site, ['-C', 'touch', '-vm', `img=${IMAGE}`, 'c.sh']), 2, 'c.sh line 1', 'does not start with #');
  }],
  ['vsub: a hostile img in the script overridden on the command line is never used; the warning is one bounded line', async () => {
    put('o.sh', `#PBS -vm img=${XML}.qcow2\necho\n`);
    const r = await vsub(site, ['-vm', `img=${IMAGE}`, 'o.sh']);
    expect(acceptedVm(r)?.request.img).toBe(IMAGE);
    const warning = r.err.split('\n').filter((l) => l.includes('overrides'));
    expect(warning).toHaveLength(1);
    expect(warning[0]?.length).toBeLessThan(300);
  }],
];

describe('hostile inputs: vsub', () => {
  it.each(vsubCases)('%s', async (_n, fn) => {
    site = makeSite();
    put('job.sh', 'echo\n');
    try {
      await guarded(fn);
    } finally {
      rmSync(site.dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- installed hooks, forged .SC
let s: HookSite;
let seq = 0;
const jobDir = (jobId: string): string => join(s.spool, 'jobs', jobDirName(jobId));
/** Files and dirs under a root, for "nothing created outside" comparisons. */
const tree = (root: string): string[] => {
  const r = spawnSync('find', [root, '-printf', '%P %u %m\n'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).sort();
};
const userData = (jobId: string): { text: string; doc: Record<string, unknown> } => {
  const vms = join(jobDir(jobId), 'vms');
  const vm = readdirSync(vms)[0] as string;
  const r = spawnSync('isoinfo', ['-R', '-x', '/user-data', '-i', join(vms, vm, 'seed.iso')], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return { text: r.stdout, doc: yaml.load(r.stdout) as Record<string, unknown> };
};
const FIXED_BOOTCMD_PROGRAMS = ['groupadd', 'install'];
const assertCleanUserData = (text: string, doc: Record<string, unknown>): void => {
  expect(doc.runcmd).toBeUndefined();
  expect(doc.disable_root).toBe(true);
  // Password logins are off through the fixed sshd snippet, not ssh_pwauth (which restarts sshd).
  expect(doc.ssh_pwauth).toBeUndefined();
  expect((doc.write_files as { path: string; content: string }[]).find((f) => f.path === '/etc/ssh/sshd_config.d/50-vtorque.conf')?.content).toMatch(/^PasswordAuthentication no$/m);
  for (const cmd of (doc.bootcmd as unknown[][]) ?? []) expect(FIXED_BOOTCMD_PROGRAMS).toContain(cmd[0]);
  expect((doc.users as { name: string }[]).map((u) => u.name)).toEqual(['vtqrun']);
  // Hostile text may appear only inside quoted scalars: never as a line of its own (a new key).
  expect(text).not.toMatch(/^\s*(runcmd|bootcmd: \[\[touch)/m);
};

async function prologue(request: Parameters<typeof vmJobScript>[0], o: { slots?: number; mutateArgv?: (a: string[]) => void; script?: string; raw?: string; keep?: boolean } = {}): Promise<{ pro: HookCall; jobId: string; epilogue: () => Promise<HookCall> }> {
  const jobId = `${9000 + ++seq}.${HOST}`;
  const job = stageJob(s, jobId, o.raw ?? vmJobScript(request, o.script), o.slots ?? 2);
  const argv = prologueArgv(job);
  o.mutateArgv?.(argv);
  const pro = await callHook(s, 'prologue', argv, job.nodefile);
  const epilogue = async (): Promise<HookCall> => {
    try {
      return await callHook(s, 'epilogue', epilogueArgv(job, { exit: 0 }), job.nodefile);
    } finally {
      unstageJob(s, job);
    }
  };
  return { pro, jobId, epilogue };
}
/** Forged .SC refused by the prologue: no VM, the reason left for the owner (expectToldWhy); the epilogue leaves nothing. */
async function forgedRefused(request: Parameters<typeof vmJobScript>[0], needle: string, o: Parameters<typeof prologue>[1] = {}): Promise<void> {
  const { pro, jobId, epilogue } = await prologue(request, o);
  try {
    expectToldWhy(s, jobId, pro, needle);
  } finally {
    await epilogue();
  }
  expect(existsSync(jobDir(jobId))).toBe(false);
}

// User images (ALLOW_USER_IMAGES) for the hook cases: a directory of the owner's under ctl (reset
// removes it), images he owns, what the installed prologue logged, where an overlay's backing is.
const ownerDir = (): string => {
  const dir = join(s.ctl, `owner-${9000 + seq + 1}`);
  mkdirSync(dir, { mode: 0o755 });
  chownSync(dir, s.uid, s.uid);
  return dir;
};
const ownerImage = (path: string): string => {
  expect(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '32M']).status).toBe(0);
  chownSync(path, s.uid, s.uid);
  return path;
};
const hookLogs = (): string => entriesOf(s.logDir).map((f) => readFileSync(join(s.logDir, f), 'utf8')).join('');
const entriesOf = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);
const overlayBacking = (jobId: string): string => {
  const vms = join(jobDir(jobId), 'vms');
  const r = spawnSync('qemu-img', ['info', '--output=json', '-U', join(vms, readdirSync(vms)[0] as string, 'disk.qcow2')], { encoding: 'utf8' });
  return (JSON.parse(r.stdout) as Record<string, string>)['backing-filename'] as string;
};
const statOf = (p: string): string => {
  const st = lstatSync(p);
  return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)} ${st.size} ${st.mtimeMs}`;
};

const hookCases: Case[] = [
  ['vsub: metadata package name with newline + runcmd is refused at submit (the forged request is refused by the prologue below)', async () => {
    s.configure({ METADATA_ALLOWED_KEYS: ['packages'] });
    const vs = makeSite({ METADATA_ALLOWED_KEYS: ['packages'] });
    try {
      writeFileSync(join(vs.cwd, 'm.yaml'), `packages: ["htop\\nruncmd: [[touch, ${MARK}]]"]\n`);
      writeFileSync(join(vs.cwd, 'job.sh'), 'echo\n');
      const r = await vsub(vs, ['-vm', `img=${IMAGE},metadata=m.yaml`, 'job.sh']);
      expect(r.code).toBe(1);
      expect(r.qsub).toBeNull();
    } finally {
      rmSync(vs.dir, { recursive: true, force: true });
    }
  }],
  ['vsub → prologue: pinning file naming CPU 99999 (vsub accepts it) is refused by the prologue', async () => {
    const vs = makeSite();
    try {
      writeFileSync(join(vs.cwd, 'pin.txt'), '99999\n');
      writeFileSync(join(vs.cwd, 'job.sh'), 'echo\n');
      const r = await vsub(vs, ['-vm', `img=${IMAGE},vcpus=1,vcpu_pinning=pin.txt`, 'job.sh']);
      if (r.code === 0) await forgedRefused({}, 'pin', { raw: r.qsub?.fileText ?? '' });
      else expect(r.code).toBe(1);
    } finally {
      rmSync(vs.dir, { recursive: true, force: true });
    }
  }],
  ['prologue: forged vcpus beyond the node file allocation → rc 1', () => forgedRefused({ vcpus: 8 }, 'core(s)', { slots: 2 })],
  ['prologue: forged vcpus=1000000000 → rc 1 (schema)', () => forgedRefused({ vcpus: 1_000_000_000 }, 'vcpus')],
  ['prologue: forged vcpus as string "1;id" → rc 1', () => forgedRefused({ vcpus: '1;id' as unknown as number }, 'vcpus')],
  ['prologue: forged img /etc/shadow → rc 1', () => forgedRefused({ img: '/etc/shadow' }, 'img')],
  ['prologue: forged img ../../etc/shadow.qcow2 → rc 1', () => forgedRefused({ img: '../../etc/shadow.qcow2' }, 'img')],
  ['prologue: forged img = symlink inside the pool → rc 1', async () => {
    symlinkSync('/etc/shadow', join(s.pool, 'link.qcow2'));
    try {
      await forgedRefused({ img: 'link.qcow2' }, 'img');
    } finally {
      rmSync(join(s.pool, 'link.qcow2'), { force: true });
    }
  }],
  ['prologue: forged img with XML payload → rc 1', () => forgedRefused({ img: `${XML}.qcow2` }, 'img')],
  ['prologue: forged img with newline/runcmd → rc 1 (schema)', () => forgedRefused({ img: `${YAMLI}.qcow2` }, 'img')],
  ['prologue: forged distro with XML → rc 1', () => forgedRefused({ distro: XML as 'debian' }, 'distro')],
  ['prologue: forged disk=/etc/shadow (DISK_DIRS unset) → rc 1', () => forgedRefused({ disk: '/etc/shadow' }, 'disk')],
  ['prologue: forged metadata bootcmd → rc 1', () => forgedRefused({ metadata: { path: '/x/m.yaml', data: { bootcmd: [['touch', MARK]] } } }, 'bootcmd')],
  ['prologue: forged metadata disable_root:false → rc 1', () => forgedRefused({ metadata: { path: '/x/m.yaml', data: { disable_root: false } } }, 'disable_root')],
  ['prologue: forged metadata users (sudo) → rc 1', () => forgedRefused({ metadata: { path: '/x/m.yaml', data: { users: [{ name: 'evil', sudo: 'ALL=(ALL) NOPASSWD:ALL' }] } } }, 'users')],
  ['prologue: forged metadata runcmd even with packages allowed → rc 1', async () => {
    s.configure({ METADATA_ALLOWED_KEYS: ['packages'] });
    await forgedRefused({ metadata: { path: '/x/m.yaml', data: { packages: ['htop'], runcmd: [['touch', MARK]] } } }, 'runcmd');
  }],
  ['prologue: forged metadata package name with newline + runcmd → rc 1', async () => {
    s.configure({ METADATA_ALLOWED_KEYS: ['packages'] });
    await forgedRefused({ metadata: { path: '/x/m.yaml', data: { packages: [`htop\nruncmd: [[touch, ${MARK}]]`] } } }, 'packages');
  }],
  ['prologue: forged unknown request key → rc 1', () => forgedRefused({ ...({ kernel_modules: ['evil'] } as object) }, 'kernel_modules')],
  ['prologue: forged pinning CPU 65535 (out of range of the node) → rc 1', () => forgedRefused({ vcpu_pinning: { path: '/x/pin', cpus: [[65535]] } }, 'pin')],
  ['prologue: forged pinning CPU 70000 (beyond schema) → rc 1', () => forgedRefused({ vcpu_pinning: { path: '/x/pin', cpus: [[70000]] } }, 'vcpu_pinning')],
  ['prologue: forged vms_per_node=256 → rc 1', () => forgedRefused({ vms_per_node: 256 }, 'vms_per_node')],
  ['prologue: request line that is not base64 JSON → rc 1', () => forgedRefused({}, 'not valid base64url JSON', { raw: `#!/bin/sh\n${REQUEST_MARKER}$(touch ${MARK})\n${encodeScriptLine('echo\n')}\n` })],
  ['prologue: request line over 8 MiB → rc 1', () => forgedRefused({}, 'too large', { raw: `#!/bin/sh\n${REQUEST_MARKER}${'A'.repeat(8 * 1024 * 1024 + 10)}\n${encodeScriptLine('echo\n')}\n` })],
  ['prologue: accepted hostile job name (shell/XML/YAML, 120 KB, under the kernel per-argument limit) is only quoted data in the seed', async () => {
    const name = `n${SH}${XML}${YAMLI}`;
    const { pro, jobId, epilogue } = await prologue({}, { mutateArgv: (a) => void (a[3] = name + 'B'.repeat(120 * 1024)) });
    try {
      expect(pro.rc).toBe(0);
      {
        const { text, doc } = userData(jobId);
        assertCleanUserData(text, doc);
        const env = (doc.write_files as { path: string; content: string }[]).find((f) => f.path.endsWith('job.env'))?.content ?? '';
        // Evaluate the rendered env file in a shell: the name must come back byte for byte, and the
        // marker a $(touch) / backtick / ; payload would create must not appear (checked by guarded()).
        expect(env).toContain("export PBS_JOBNAME='n'\\''$(touch");
        const sh = spawnSync('/bin/sh', ['-c', `${env}\nprintf %s "$PBS_JOBNAME"`], { encoding: 'utf8', maxBuffer: 4 << 20 });
        expect(sh.stdout).toBe(name + 'B'.repeat(120 * 1024));
      }
    } finally {
      await epilogue();
    }
  }],
  ['prologue: accepted hostile account string is inert', async () => {
    const { pro, jobId, epilogue } = await prologue({}, { mutateArgv: (a) => void (a[6] = `acct${SH}${XML}\nruncmd: [id]`) });
    try {
      expect(pro.rc).toBe(0);
      const { text, doc } = userData(jobId);
      assertCleanUserData(text, doc);
    } finally {
      await epilogue();
    }
  }],
  ['prologue: vm_prologue/vm_epilogue content with XML/YAML/shell is data only (job.json), never in the seed', async () => {
    const content = `${XML}\n${YAMLI}\n${SH}\n`;
    const { pro, jobId, epilogue } = await prologue({ vm_prologue: { path: '/x/p.sh', content }, vm_epilogue: { path: '/x/e.sh', content } });
    try {
      expect(pro.rc).toBe(0);
      const { text, doc } = userData(jobId);
      assertCleanUserData(text, doc);
      expect(text).not.toContain('</devices>');
      const st = lstatSync(join(jobDir(jobId), 'job.json'));
      expect([st.uid, st.mode & 0o777]).toEqual([s.uid, 0o400]);
      expect(JSON.parse(readFileSync(join(jobDir(jobId), 'job.json'), 'utf8')).vmPrologue).toBe(content);
    } finally {
      await epilogue();
    }
  }],
  ['prologue: user script with payloads lands only in the owner\'s job-script (0400 owner)', async () => {
    const { pro, jobId, epilogue } = await prologue({}, { script: `#!/bin/sh\n${SH}\n${YAMLI}\n` });
    try {
      expect(pro.rc).toBe(0);
      const st = lstatSync(join(jobDir(jobId), 'job-script'));
      expect([st.uid, st.mode & 0o777]).toEqual([s.uid, 0o400]);
      assertCleanUserData(userData(jobId).text, userData(jobId).doc);
    } finally {
      await epilogue();
    }
  }],
  ['prologue: user-owned directory pre-created at SPOOL_DIR/jobs/<job> is not trusted', async () => {
    const jobId = `${9000 + seq + 1}.${HOST}`;
    mkdirSync(join(s.spool, 'jobs'), { recursive: true, mode: 0o711 });
    const pre = jobDir(jobId);
    mkdirSync(pre, { mode: 0o777 });
    chownSync(pre, s.uid, s.uid);
    const { pro, epilogue } = await prologue({});
    try {
      // Either refused, or the user's directory was replaced by a root-owned one.
      if (pro.rc === 0) expect([statSync(pre).uid, statSync(pre).mode & 0o022]).toEqual([0, 0]);
      else expect(pro.rc).toBeGreaterThan(0);
    } finally {
      await epilogue();
    }
  }],
  ['prologue: symlink pre-created at SPOOL_DIR/jobs/<job> is never followed', async () => {
    const jobId = `${9000 + seq + 1}.${HOST}`;
    const target = mkdtempSync(join(tmpdir(), 'vtq-sec-target-'));
    chownSync(target, s.uid, s.uid);
    const before = tree(target);
    mkdirSync(join(s.spool, 'jobs'), { recursive: true, mode: 0o711 });
    symlinkSync(target, jobDir(jobId));
    const { pro, epilogue } = await prologue({});
    try {
      expect(tree(target)).toEqual(before);
      if (pro.rc === 0) expect(lstatSync(jobDir(jobId)).isSymbolicLink()).toBe(false);
      expect(existsSync(target)).toBe(true);
    } finally {
      await epilogue();
      expect(existsSync(target)).toBe(true); // teardown did not remove through the link either
      expect(tree(target)).toEqual(before);
      rmSync(target, { recursive: true, force: true });
      rmSync(jobDir(jobId), { force: true });
    }
  }],
  ['installed vsub run as the owner (setpriv): vm_prologue naming a root-only file is refused', async () => {
    const secret = join(s.ctl, 'root-only.sh');
    writeFileSync(secret, 'echo root secret\n', { mode: 0o600 });
    const r = spawnSync('setpriv', [`--reuid=${s.uid}`, `--regid=${s.uid}`, '--init-groups', '--', join(s.prefix, 'bin', 'vsub'), '--dry-run', '--json', '-vm', `img=${IMAGE},vm_prologue=${secret}`, 'job.sh'], { cwd: s.work, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: s.home } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('vm_prologue');
    expect(r.stderr).toContain("EACCES");
    expect(r.stdout + r.stderr).not.toContain('root secret');
  }],
  ['prologue: cancel marker owned by another user is ignored (the job boots)', async () => {
    const jobId = `${9000 + seq + 1}.${HOST}`;
    mkdirSync(join(s.spool, 'cancel'), { recursive: true });
    chmodSync(join(s.spool, 'cancel'), 0o1733);
    writeFileSync(join(s.spool, 'cancel', jobId), '');
    chownSync(join(s.spool, 'cancel', jobId), 65534, 65534);
    const { pro, epilogue } = await prologue({});
    try {
      expect(pro.rc).toBe(0);
      expect(pro.stdout).not.toContain('cancelled');
    } finally {
      await epilogue();
    }
  }],
  ['epilogue: owner\'s cancel marker that is a symlink to a root file is unlinked, not followed', async () => {
    const jobId = `${9000 + seq + 1}.${HOST}`;
    const victim = join(s.ctl, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o600 });
    mkdirSync(join(s.spool, 'cancel'), { recursive: true });
    chmodSync(join(s.spool, 'cancel'), 0o1733);
    const marker = join(s.spool, 'cancel', jobId);
    symlinkSync(victim, marker);
    spawnSync('chown', ['-h', `${s.uid}:${s.uid}`, marker]);
    const { epilogue } = await prologue({});
    await epilogue();
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(statSync(victim).uid).toBe(0);
    expect(statSync(victim).mode & 0o777).toBe(0o600);
  }],
  ['prologue (ALLOW_USER_IMAGES): a user image whose .vmlinuz is a symlink to /etc/shadow and .initrd a FIFO boots from its own disk; nothing beside it is used', async () => {
    s.configure({ ALLOW_USER_IMAGES: true });
    const img = ownerImage(join(ownerDir(), 'mine.qcow2'));
    symlinkSync('/etc/shadow', `${img}.vmlinuz`);
    spawnSync('mkfifo', [`${img}.initrd`]);
    const shadow = statOf('/etc/shadow');
    const { pro, jobId, epilogue } = await prologue({ img });
    try {
      // A FIFO opened by anything would have blocked the prologue until its kill.
      expect([pro.rc, pro.signal]).toEqual([0, null]);
      const logs = hookLogs();
      expect(logs).toContain('a user image boots from its own disk; files beside it are not used');
      expect(logs).not.toContain('direct kernel boot from the pool');
      const copy = join(jobDir(jobId), 'base.qcow2');
      expect(overlayBacking(jobId)).toBe(copy);
      expect(readFileSync(copy).equals(readFileSync(img))).toBe(true);
      const st = lstatSync(copy);
      expect([st.uid, st.mode & 0o7777]).toEqual([0, 0o640]);
      expect(statOf('/etc/shadow')).toBe(shadow);
      expect(lstatSync(`${img}.vmlinuz`).isSymbolicLink() && lstatSync(`${img}.initrd`).isFIFO()).toBe(true);
    } finally {
      await epilogue();
    }
  }],
  ['prologue (ALLOW_USER_IMAGES): a user image swapped for a symlink to /etc/shadow while the prologue runs: the overlay\'s backing is only ever the root-owned copy of what was checked', async () => {
    s.configure({ ALLOW_USER_IMAGES: true });
    const dir = ownerDir();
    const real = ownerImage(join(dir, 'real.qcow2'));
    const img = join(dir, 'img.qcow2');
    spawnSync('ln', [real, img]);
    const shadow = statOf('/etc/shadow');
    // The owner flips his path between a symlink to /etc/shadow and (a hard link of) his image, all along.
    const flip = spawn('setpriv', [`--reuid=${s.uid}`, `--regid=${s.uid}`, '--init-groups', '--', '/bin/sh', '-c',
      'cd "$1" || exit 1; while :; do ln -sfn /etc/shadow .l; mv -Tf .l img.qcow2; ln -f real.qcow2 .r; mv -Tf .r img.qcow2; sleep 0.01; done', 'flip', dir,
    ], { detached: true, stdio: 'ignore' });
    let booted = 0;
    try {
      for (let attempt = 0; attempt < 4 && booted === 0; attempt++) {
        const { pro, jobId, epilogue } = await prologue({ img });
        try {
          if (pro.rc === 0 && !existsSync(join(jobDir(jobId), 'outcome.json'))) {
            booted += 1;
            const copy = join(jobDir(jobId), 'base.qcow2');
            expect(overlayBacking(jobId)).toBe(copy);
            expect(readFileSync(copy).equals(readFileSync(real))).toBe(true);
            expect(lstatSync(copy).uid).toBe(0);
            expect(hookLogs()).toContain(`"backing":"${copy}"`);
          } else {
            // Opened while it was the symlink: refused as the job's (the owner told why), nothing made.
            expectToldWhy(s, jobId, pro, 'is a symbolic link');
          }
        } finally {
          await epilogue();
        }
      }
    } finally {
      if (flip.pid !== undefined) process.kill(-flip.pid, 'SIGKILL');
    }
    expect(booted, 'one start got past the check (the path was the image when it was opened)').toBe(1);
    expect(statOf('/etc/shadow')).toBe(shadow);
  }],
  ['prologue (ALLOW_USER_IMAGES): a user image that is a FIFO is refused at once, without blocking', async () => {
    s.configure({ ALLOW_USER_IMAGES: true });
    const fifo = join(ownerDir(), 'fifo.qcow2');
    spawnSync('mkfifo', [fifo]);
    chownSync(fifo, s.uid, s.uid);
    const t0 = performance.now();
    await forgedRefused({ img: fifo }, 'is not a regular file');
    expect(performance.now() - t0).toBeLessThan(15_000);
  }],
  ['prologue (ALLOW_USER_IMAGES): img=/etc/shadow is refused: root never copies for the owner a file he does not own', async () => {
    s.configure({ ALLOW_USER_IMAGES: true });
    await forgedRefused({ img: '/etc/shadow' }, 'is owned by uid 0, not by the job owner');
  }],
  ['prologue: a pool image whose .vmlinuz/.initrd are symlinks to /etc/shadow is refused as the node\'s fault (requeue), never booted', async () => {
    const img = join(s.pool, 'kboot.qcow2');
    spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '32M']);
    chmodSync(img, 0o444);
    symlinkSync('/etc/shadow', `${img}.vmlinuz`);
    symlinkSync('/etc/shadow', `${img}.initrd`);
    try {
      const { pro, jobId, epilogue } = await prologue({ img: 'kboot.qcow2' });
      try {
        expect(pro.rc).toBe(2);
        expect(pro.stdout).toMatch(/direct kernel boot file .*kboot\.qcow2\.vmlinuz is refused: .*is a symbolic link/);
        expect(pro.stdout).toContain('Torque will requeue the job');
        expect(existsSync(jobDir(jobId))).toBe(false);
      } finally {
        await epilogue();
      }
    } finally {
      for (const f of [img, `${img}.vmlinuz`, `${img}.initrd`]) rmSync(f, { force: true });
    }
  }],
  ['prologue: VM_VIRTIOFS_HOME (a root virtiofsd in passthrough mode) is refused by the config, naming the key and NFS; nothing is made', async () => {
    s.configure({ VM_SHARE_TYPE: 'virtiofs', VM_VIRTIOFS_HOME: s.home });
    const { pro, jobId, epilogue } = await prologue({});
    try {
      expect(pro.rc).toBe(2);
      expect(pro.stdout).toContain("this node's configuration is invalid");
      expect(pro.stdout).toMatch(/VM_SHARE_TYPE = "virtiofs": expected nfs: virtiofs is refused: .*root in any guest/);
      expect(pro.stdout).toContain(`VM_VIRTIOFS_HOME = "${s.home}"`);
      expect(existsSync(jobDir(jobId))).toBe(false);
    } finally {
      s.configure();
      await epilogue();
    }
  }],
  ['prologue: ALLOW_USER_IMAGES together with VM_NFS_HOME is refused by the config (guest root could use any uid on the export)', async () => {
    s.configure({ ALLOW_USER_IMAGES: true, VM_NFS_HOME: 'nfs1:/export/home' });
    const { pro, jobId, epilogue } = await prologue({});
    try {
      expect(pro.rc).toBe(2);
      expect(pro.stdout).toContain('ALLOW_USER_IMAGES = true: expected false while VM_NFS_HOME export to the guests');
      expect(existsSync(jobDir(jobId))).toBe(false);
    } finally {
      s.configure();
      await epilogue();
    }
  }],
];

describe('hostile inputs: installed prologue/epilogue with forged .SC', () => {
  beforeAll(async () => {
    s = await makeHookSite();
  }, 60_000);
  afterAll(() => s?.cleanup());
  it.each(hookCases)('%s', async (_n, fn) => {
    s.reset();
    const outside = tree(s.root).filter((l) => !l.startsWith('vspool') && !l.startsWith('log') && !l.startsWith('ctl') && !l.startsWith('torque/aux') && !l.startsWith('torque/mom_priv/jobs'));
    await guarded(fn);
    const after = tree(s.root).filter((l) => !l.startsWith('vspool') && !l.startsWith('log') && !l.startsWith('ctl') && !l.startsWith('torque/aux') && !l.startsWith('torque/mom_priv/jobs'));
    expect(after.filter((l) => !l.startsWith('etc/vtorque/config.yaml'))).toEqual(outside.filter((l) => !l.startsWith('etc/vtorque/config.yaml')));
  }, 40_000);
});

// ---------------------------------------------------------------- hostile owners and other users (security round 2)
let so: HookSite;
describe('hostile inputs: job owners and other users against the installed hooks', () => {
  beforeAll(async () => {
    so = await makeHookSite();
  }, 60_000);
  afterAll(() => so?.cleanup());
  it.each(ownerCases(() => so))('%s', async (_n, fn) => {
    so.reset();
    await guarded(fn);
  }, 60_000);
});

// ---------------------------------------------------------------- vmgr addImage / deleteImage
let pool: string;
let src: string;
const vmgrRefused = (fn: () => unknown, needle: string): void => {
  const before = tree(pool);
  expect(fn).toThrow(needle);
  expect(tree(pool)).toEqual(before);
};
const vmgrCases: Case[] = [
  ['vmgr add: a symlink source is refused', async () => {
    symlinkSync('/etc/shadow', join(src, 'link.qcow2'));
    vmgrRefused(() => addImage(pool, join(src, 'link.qcow2'), 'd'), 'expected a regular file');
  }],
  ['vmgr add: a directory source is refused', async () => {
    mkdirSync(join(src, 'dir.qcow2'));
    vmgrRefused(() => addImage(pool, join(src, 'dir.qcow2'), 'd'), 'expected a regular file');
  }],
  ['vmgr add: name ../escape.qcow2 is refused', async () => {
    writeFileSync(join(src, 'ok.qcow2'), 'x');
    vmgrRefused(() => addImage(pool, join(src, 'ok.qcow2'), 'd', '../escape.qcow2'), 'image name');
    expect(existsSync(join(pool, '..', 'escape.qcow2'))).toBe(false);
  }],
  ['vmgr add: name a/../../x.qcow2 and absolute name are refused', async () => {
    writeFileSync(join(src, 'ok.qcow2'), 'x');
    vmgrRefused(() => addImage(pool, join(src, 'ok.qcow2'), 'd', 'a/../../x.qcow2'), 'image name');
    vmgrRefused(() => addImage(pool, join(src, 'ok.qcow2'), 'd', '/etc/x.qcow2'), 'image name');
  }],
  ['vmgr add: name with newline / XML is refused', async () => {
    writeFileSync(join(src, 'ok.qcow2'), 'x');
    vmgrRefused(() => addImage(pool, join(src, 'ok.qcow2'), 'd', `a\n</name>.qcow2`), 'image name');
  }],
  ['vmgr add: boot files that are symlinks are not copied; description control chars stripped', async () => {
    writeFileSync(join(src, 'k.qcow2'), 'x');
    symlinkSync('/etc/shadow', join(src, 'k.qcow2.vmlinuz'));
    symlinkSync('/etc/shadow', join(src, 'k.qcow2.initrd'));
    const written = addImage(pool, join(src, 'k.qcow2'), `desc\nruncmd: [id]\0`);
    expect(written).toEqual([join(pool, 'k.qcow2')]);
    const st = statSync(join(pool, 'k.qcow2'));
    expect([st.uid, st.mode & 0o777]).toEqual([0, 0o444]);
    const info = readdirSync(pool).filter((f) => f !== 'k.qcow2').map((f) => readFileSync(join(pool, f), 'utf8'));
    for (const t of info) expect(t.split('\n').filter(Boolean)).toHaveLength(1);
  }],
  ['vmgr delete: ../ name is refused', async () => {
    writeFileSync(join(src, 'keep.qcow2'), 'x');
    vmgrRefused(() => deleteImage(pool, '../src/keep.qcow2'), 'image name');
    expect(existsSync(join(src, 'keep.qcow2'))).toBe(true);
  }],
];

describe('hostile inputs: vmgr', () => {
  it.each(vmgrCases)('%s', async (_n, fn) => {
    const d = mkdtempSync(join(tmpdir(), 'vtq-sec-vmgr-'));
    pool = join(d, 'pool');
    src = join(d, 'src');
    mkdirSync(pool);
    mkdirSync(src);
    try {
      await guarded(fn);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
