import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SiteConfig } from '../../core/config/schema.js';
import { defaultConfig } from '../../core/config/validate.js';
import { parseGetentIds } from '../../core/node/ids.js';
import { layoutAt } from '../../core/install/paths.js';
import { engineSite } from '../../../test/engine/engine-harness.js';
import { agentCommand } from '../../../test/helpers/node-agents.js';
import { REPO } from '../../../test/helpers/site.js';
import { nodeAgentProblems, parseNodeList, qemuUidOverlapProblems, qemuUserProblems, slurmHookPaths, slurmHookProblems, type StatMode } from './doctor-command.js';

const pool = mkdtempSync(join(tmpdir(), 'vtq-doctor-'));
afterAll(() => rmSync(pool, { recursive: true, force: true }));
writeFileSync(join(pool, 'debian.qcow2'), '');
writeFileSync(join(pool, 'debian.qcow2.vmlinuz'), '');

const config = (over: Partial<SiteConfig> = {}): SiteConfig => ({
  ...defaultConfig(),
  QEMU_USER: 'owner',
  LIBVIRT_URI: 'qemu:///system',
  SPOOL_DIR: '/var/spool/vtorque',
  RAMDISK_DIR: '/ramdisk',
  VM_IMG_DIR: pool,
  ...over,
});

/** A node where everything the owner's qemu needs is fine, with `over` paths' modes replaced (null = missing). */
function node(over: Record<string, number | null> = {}): StatMode {
  const dirs = new Set(['/', '/var', '/var/spool', '/var/spool/vtorque', '/ramdisk', ...pool.split('/').map((_, i, a) => a.slice(0, i + 1).join('/') || '/')]);
  return (path) => {
    if (path in over) {
      const mode = over[path];
      return mode === null || mode === undefined ? null : { mode, isDirectory: dirs.has(path) };
    }
    if (path === '/dev/kvm') return { mode: 0o20666, isDirectory: false };
    if (dirs.has(path)) return { mode: 0o40755, isDirectory: true };
    if (path.startsWith(`${pool}/`)) return { mode: 0o100444, isDirectory: false };
    return null;
  };
}

const KVM_PROBLEM = (mode: string) =>
  `qemu runs as the job owner (QEMU_USER: owner) but /dev/kvm is mode ${mode}: make it 0666 (udev rule KERNEL=="kvm", MODE="0666") or set QEMU_USER: libvirt`;

describe('vtorque doctor: qemuUserProblems', () => {
  it('a fit node has none', () => {
    expect(qemuUserProblems(config(), node())).toEqual([]);
  });

  it('/dev/kvm not usable by others, with kvm guests (HYPERVISOR kvm, or auto with /dev/kvm present)', () => {
    expect(qemuUserProblems(config({ HYPERVISOR: 'auto' }), node({ '/dev/kvm': 0o20660 }))).toEqual([KVM_PROBLEM('0660')]);
    expect(qemuUserProblems(config({ HYPERVISOR: 'kvm' }), node({ '/dev/kvm': 0o20600 }))).toEqual([KVM_PROBLEM('0600')]);
    expect(qemuUserProblems(config({ HYPERVISOR: 'kvm' }), node({ '/dev/kvm': 0o20664 }))).toEqual([KVM_PROBLEM('0664')]);
  });

  it('no kvm problem for TCG guests, the test driver, a missing /dev/kvm or QEMU_USER libvirt', () => {
    expect(qemuUserProblems(config({ HYPERVISOR: 'qemu' }), node({ '/dev/kvm': 0o20600 }))).toEqual([]);
    expect(qemuUserProblems(config({ LIBVIRT_URI: 'test:///default' }), node({ '/dev/kvm': 0o20600 }))).toEqual([]);
    expect(qemuUserProblems(config({ HYPERVISOR: 'auto' }), node({ '/dev/kvm': null }))).toEqual([]);
    expect(qemuUserProblems(config({ QEMU_USER: 'libvirt' }), node({ '/dev/kvm': 0o20600, '/var/spool/vtorque': 0o40700 }))).toEqual([]);
  });

  it('directories the owner\'s qemu cannot traverse, and pool files it cannot read', () => {
    expect(qemuUserProblems(config(), node({ '/var/spool/vtorque': 0o40700, [join(pool, 'debian.qcow2.vmlinuz')]: 0o100600 }))).toEqual([
      'qemu runs as the job owner (QEMU_USER: owner) but /var/spool/vtorque (on the way to SPOOL_DIR) is mode 0700: the owner\'s qemu cannot reach its files; fix with: chmod o+x /var/spool/vtorque',
      `qemu runs as the job owner (QEMU_USER: owner) but ${pool}/debian.qcow2.vmlinuz is mode 0600: the owner's qemu cannot read it; fix with: chmod 0444 ${pool}/debian.qcow2.vmlinuz`,
    ]);
  });
});

const JOB_UID = { QEMU_USER: 'job-uid', QEMU_UIDS: '2145000000-2145009999' } as const;
const KVM_GID = 107;
/** /dev/kvm with this mode and group. */
const kvmDev = (mode: number, gid: number): StatMode => {
  const base = node();
  return (path) => (path === '/dev/kvm' ? { mode, isDirectory: false, gid } : base(path));
};
const JOB_UID_QEMU = 'qemu runs as a per-job uid from QEMU_UIDS (QEMU_USER: job-uid)';

describe('vtorque doctor: qemuUserProblems (QEMU_USER job-uid)', () => {
  it('/dev/kvm 0660 root:kvm or 0666 is enough; a fit node has no problem', () => {
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20660, KVM_GID), KVM_GID)).toEqual([]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20666, 0), KVM_GID)).toEqual([]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20666, 0), null)).toEqual([]);
    expect(qemuUserProblems(config({ ...JOB_UID, HYPERVISOR: 'qemu' }), kvmDev(0o20600, 0), KVM_GID)).toEqual([]);
  });

  it('/dev/kvm not group-rw for kvm nor world-rw, or no kvm group and not world-rw', () => {
    const fix = `make it group-rw for group kvm (gid ${KVM_GID}; udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660") or set QEMU_USER: libvirt`;
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20600, KVM_GID), KVM_GID)).toEqual([`${JOB_UID_QEMU} but /dev/kvm is mode 0600 with group ${KVM_GID}: ${fix}`]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20660, 0), KVM_GID)).toEqual([`${JOB_UID_QEMU} but /dev/kvm is mode 0660 with group 0: ${fix}`]);
    expect(qemuUserProblems(config({ ...JOB_UID, HYPERVISOR: 'kvm' }), kvmDev(0o20640, KVM_GID), KVM_GID)).toEqual([`${JOB_UID_QEMU} but /dev/kvm is mode 0640 with group ${KVM_GID}: ${fix}`]);
    expect(qemuUserProblems(config(JOB_UID), kvmDev(0o20660, KVM_GID), null)).toEqual([
      `${JOB_UID_QEMU} but /dev/kvm is mode 0660 and this node has no kvm group (qemu's gid is then its uid's number): create a kvm group and make /dev/kvm 0660 root:kvm (udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660"), or make it 0666, or set QEMU_USER: libvirt`,
    ]);
  });

  it('the same traversal and pool-readability checks as for the owner', () => {
    expect(qemuUserProblems(config(JOB_UID), node({ '/var/spool/vtorque': 0o40750, [join(pool, 'debian.qcow2')]: 0o100640 }), KVM_GID)).toEqual([
      `${JOB_UID_QEMU} but /var/spool/vtorque (on the way to SPOOL_DIR) is mode 0750: the job's qemu cannot reach its files; fix with: chmod o+x /var/spool/vtorque`,
      `${JOB_UID_QEMU} but ${pool}/debian.qcow2 is mode 0640: the job's qemu cannot read it; fix with: chmod 0444 ${pool}/debian.qcow2`,
    ]);
  });
});

describe('vtorque doctor: qemuUidOverlapProblems', () => {
  const passwd = parseGetentIds(
    ['root:x:0:0:root:/root:/bin/bash', 'alice:x:1000:1000::/home/alice:/bin/bash', 'svc1:x:2145000009:100::/:/sbin/nologin', 'svc0:x:2145000000:100::/:/sbin/nologin', 'edge:x:2145010000:100::/:/sbin/nologin', 'bad line', ''].join('\n'),
  );
  const groups = parseGetentIds(['root:x:0:', 'kvm:x:107:', ...Array.from({ length: 7 }, (_, i) => `g${i}:x:${2145009999 - i}:alice`)].join('\n'));

  it('parses getent output, skipping malformed lines', () => {
    expect(passwd).toEqual([
      { name: 'root', id: 0 }, { name: 'alice', id: 1000 }, { name: 'svc1', id: 2145000009 }, { name: 'svc0', id: 2145000000 }, { name: 'edge', id: 2145010000 },
    ]);
  });

  it('lists the first few users and groups inside the range, by id, and how many more', () => {
    expect(qemuUidOverlapProblems('2145000000-2145009999', passwd, groups)).toEqual([
      'QEMU_UIDS 2145000000-2145009999 overlaps the user database: uid 2145000000 (svc0), 2145000009 (svc1); each job\'s qemu must run as ids that belong to nobody (QEMU_USER: job-uid): choose a QEMU_UIDS range that no user\'s uid and no group\'s gid falls in',
      'QEMU_UIDS 2145000000-2145009999 overlaps the group database: gid 2145009993 (g6), 2145009994 (g5), 2145009995 (g4), 2145009996 (g3), 2145009997 (g2) and 2 more; each job\'s qemu must run as ids that belong to nobody (QEMU_USER: job-uid): choose a QEMU_UIDS range that no user\'s uid and no group\'s gid falls in',
    ]);
  });

  it('nothing when the range is clear of every id (bounds inclusive), or unset', () => {
    expect(qemuUidOverlapProblems('2145000001-2145000008', passwd, groups)).toEqual([]);
    expect(qemuUidOverlapProblems('2145010000-2145010000', passwd, [])).toHaveLength(1);
    expect(qemuUidOverlapProblems('', passwd, groups)).toEqual([]);
  });
});

describe('vtorque doctor --nodes: each node reached through its agent as the head of a multi-node job reaches it', () => {
  const agents = join(pool, 'agents');
  /** NODE_AGENT_COMMAND as a site may have it; `sh` stands in for ssh failing the way ssh fails. */
  const failing = (script: string): SiteConfig => config({ NODE_AGENT_COMMAND: ['/bin/sh', '-c', script, '{node}'] });
  async function check(c: SiteConfig, names: string[], seconds?: number): Promise<{ lines: string[]; problems: string[] }> {
    const lines: string[] = [];
    const problems = await nodeAgentProblems(c, layoutAt(REPO), names, (l) => void lines.push(l), seconds);
    return { lines, problems };
  }

  it('a node whose agent answers is reached; one that does not resolve is named with what ssh said and what it means', async () => {
    const c = config({ NODE_AGENT_COMMAND: agentCommand(agents, { n2: engineSite().config, n4: engineSite().config }, { n4: 'n4.cluster' }) });
    const r = await check(c, ['n2', 'n3', 'n4']);
    expect(r.lines).toEqual(['node agent n2: reached (domain type test)\n']);
    expect(r.problems).toEqual([
      "node agent n3: node n3: its node agent ended (exit 255): ssh: Could not resolve hostname n3: Name or service not known; n3 does not resolve: the scheduler's node names must be host names this node can reach",
      'node agent n4: answers, but calls its node "n4.cluster", and the head refuses a node that reports another name: give the agent the scheduler\'s name (NODE_AGENT_COMMAND\'s --name {node})',
    ]);
  }, 30_000);

  it.each([
    ['ssh key refused', 'echo "root@$0: Permission denied (publickey)." >&2; exit 255', "root's ssh key is refused by n2"],
    ['host key unknown', 'echo "No ED25519 host key is known for $0 and you have requested strict checking." >&2; echo "Host key verification failed." >&2; exit 255', "n2's ssh host key is unknown here (or changed)"],
    ['vtorque not at the same path', 'echo "bash: line 1: /opt/vtorque/bin/node: No such file or directory" >&2; exit 127', 'vTorque is not installed at the same path on n2'],
    ['an agent out of contract', 'echo "vtorque node-agent v0 ready"; sleep 5', "the agent on n2 does not speak this vTorque's node-ops"],
  ])('%s: the error and its likely cause', async (_what, script, hint) => {
    const r = await check(failing(script), ['n2']);
    expect(r.lines).toEqual([]);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^node agent n2: node n2: /);
    expect(r.problems[0]).toContain(`; ${hint}`);
  });

  it('an agent that never answers is given up on within the bound', async () => {
    const t0 = Date.now();
    const r = await check(failing('exec sleep 30'), ['n2'], 1);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.problems).toEqual([expect.stringMatching(/^node agent n2: .*no answer.*; the agent on n2 did not answer in time/)]);
  });

  it('the program of NODE_AGENT_COMMAND missing here, and a node name that is no host name', async () => {
    const r = await check(config({ NODE_AGENT_COMMAND: ['/nonexistent/ssh', 'root@{node}'] }), ['n2', 'n2;reboot']);
    expect(r.problems[0]).toMatch(/^node agent n2: node n2: cannot start its node agent .*; \/nonexistent\/ssh \(NODE_AGENT_COMMAND's program\) cannot be started on this node/);
    expect(r.problems[1]).toMatch(/^node agent n2;reboot: node name "n2;reboot" from the scheduler is not a host name/);
  });

  it('--nodes takes names separated by commas, each once', () => {
    expect(parseNodeList('n2,n3, n2')).toEqual(['n2', 'n3']);
    expect(() => parseNodeList('n2,,n3')).toThrow('--nodes "n2,,n3": expected node names separated by commas, e.g. --nodes n2,n3');
  });
});

describe('vtorque doctor --slurm: slurmd runs this install\'s Slurm hooks as they need', () => {
  // A real `scontrol show config` of Slurm 22.05.8, trimmed (src/slurm/testdata), with the lines a case changes replaced.
  const REAL = readFileSync(new URL('../../slurm/testdata/show-config-22.05.txt', import.meta.url), 'utf8');
  const install = layoutAt(join(pool, 'install'));
  const hooks = slurmHookPaths(install);
  mkdirSync(join(install.root, 'hooks'), { recursive: true });
  writeFileSync(hooks.prolog, '');
  writeFileSync(hooks.epilog, '');
  const slurmConfig = config({ SLURM_SCONTROL: '/usr/bin/scontrol', SLURM_CONF: '', PROLOGUE_TIMEOUT: 280, TEARDOWN_TIMEOUT: 60 });
  const showConfig = (over: Record<string, string>): string =>
    Object.entries(over).reduce((text, [key, value]) => text.replace(new RegExp(`^${key.replace(/[[\]]/g, '\\$&')} += .*$`, 'm'), `${key.padEnd(23)} = ${value}`), REAL);
  async function doctor(text: string | Error): Promise<{ lines: string[]; problems: string[] }> {
    const lines: string[] = [];
    const problems = await slurmHookProblems(slurmConfig, install, (l) => void lines.push(l), () => (text instanceof Error ? Promise.reject(text) : Promise.resolve(text)));
    return { lines, problems };
  }

  it('the hook paths are the install\'s own: <lib dir>/hooks/slurm-prolog and slurm-epilog', () => {
    expect(slurmHookPaths(layoutAt('/opt/vtorque/lib/vtorque'))).toEqual({ prolog: '/opt/vtorque/lib/vtorque/hooks/slurm-prolog', epilog: '/opt/vtorque/lib/vtorque/hooks/slurm-epilog' });
  });

  it('a fit slurmd: no problem; what is fine printed, the unlimited PrologEpilogTimeout (the default) as a warning', async () => {
    const r = await doctor(showConfig({ Prolog: hooks.prolog, Epilog: hooks.epilog }));
    expect(r.problems).toEqual([]);
    expect(r.lines).toEqual([
      'slurm 22.05.8: configuration of /tmp/slx/slurm.conf read\n',
      'slurm: SlurmdUser root(0): slurmd runs the Prolog and Epilog as root\n',
      'slurm: PrologFlags Alloc: the Prolog runs at allocation\n',
      `slurm: Prolog ${hooks.prolog}: vTorque's prolog\n`,
      `slurm: Epilog ${hooks.epilog}: vTorque's epilog\n`,
      "warning: slurm: PrologEpilogTimeout is unlimited: a hung Prolog or Epilog would hold the node forever; vTorque's prolog ends itself at PROLOGUE_TIMEOUT (280 s) and its epilog at TEARDOWN_TIMEOUT (60 s), so PrologEpilogTimeout=295 would be a safe bound for every hook\n",
    ]);
  });

  it('every misfit is a problem (doctor then exits 1): not root, no Alloc, foreign hooks, a timeout that kills the prolog', async () => {
    const r = await doctor(showConfig({ SlurmdUser: 'slurm(64030)', PrologFlags: '(null)', Prolog: '/tmp/slx/hooks/prolog', Epilog: '(null)', PrologEpilogTimeout: '120' }));
    expect(r.problems).toEqual([
      expect.stringMatching(/^slurm: SlurmdUser is "slurm\(64030\)", not root: .*vTorque's prolog must run as root/),
      expect.stringMatching(/^slurm: PrologFlags is empty, without Alloc: .*the job's VMs would not be booted before the batch script starts/),
      `slurm: Prolog is /tmp/slx/hooks/prolog, not vTorque's prolog (${hooks.prolog}): set Prolog=${hooks.prolog} in slurm.conf, or, to keep the site's own prolog, a directory glob (Prolog=/etc/slurm/prolog.d/*) with both linked into it; then scontrol reconfigure`,
      expect.stringMatching(/^slurm: Epilog is not set, so slurmd runs none: set Epilog=/),
      "slurm: PrologEpilogTimeout 120 s is below PROLOGUE_TIMEOUT 280 s + 15: slurmd would SIGTERM vTorque's prolog while the job's VMs boot and drain the node; set PrologEpilogTimeout=295 (or more) in slurm.conf",
    ]);
    expect(r.lines).toEqual(['slurm 22.05.8: configuration of /tmp/slx/slurm.conf read\n']);
  });

  it('glob hooks: the directory read, ours found through the admin\'s link, or the ln to run', async () => {
    const prologD = join(pool, 'prolog.d');
    const epilogD = join(pool, 'epilog.d');
    mkdirSync(prologD);
    mkdirSync(epilogD);
    writeFileSync(join(prologD, '10-site'), '');
    symlinkSync(hooks.prolog, join(prologD, '50-vtorque'));
    writeFileSync(join(epilogD, '10-site'), '');
    const r = await doctor(showConfig({ Prolog: `${prologD}/*`, Epilog: `${epilogD}/*`, PrologEpilogTimeout: '300' }));
    expect(r.lines).toContain(`slurm: Prolog is the glob ${prologD}/*; it matches vTorque's prolog (${prologD}/50-vtorque → ${hooks.prolog})\n`);
    expect(r.lines).toContain('slurm: PrologEpilogTimeout 300 s covers PROLOGUE_TIMEOUT 280 s + 15 and TEARDOWN_TIMEOUT 60 s + 5\n');
    expect(r.problems).toEqual([
      `slurm: Epilog is the glob ${epilogD}/*, and the admin must link vTorque's epilog into that directory: it matches ${epilogD}/10-site, not vTorque's epilog; fix: ln -s ${hooks.epilog} ${epilogD}/vtorque`,
    ]);
  });

  it('scontrol failing, or printing nothing, is one problem', async () => {
    expect((await doctor(new Error("cannot read Slurm's configuration: /usr/bin/scontrol show config: exit code 1: slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure); check ..."))).problems).toEqual([
      "slurm: cannot read Slurm's configuration: /usr/bin/scontrol show config: exit code 1: slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure); check ...",
    ]);
    expect(await doctor('')).toEqual({ lines: [], problems: ['slurm: /usr/bin/scontrol show config printed no settings'] });
  });
});
