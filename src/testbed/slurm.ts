import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { run } from '../core/exec/run.js';
import { isAlive, netnsPids, pidInNetns, pollUntil, programOf, readPidFile, sleep, terminate } from '../sandbox/index.js';
import { TestbedError } from './errors.js';
import type { TestbedLayout } from './layout.js';
import { inNode } from './node-ns.js';
import type { Testbed, TestbedNode } from './options.js';

export const SLURM_DAEMONS = ['slurmctld', 'slurmd'] as const;
export type SlurmDaemon = (typeof SLURM_DAEMONS)[number];

/** The head runs the controller; every node a slurmd. */
export function slurmDaemonsOf(node: TestbedNode): readonly SlurmDaemon[] {
  return node.index === 1 ? SLURM_DAEMONS : ['slurmd'];
}

/** Where the testbed's Slurm keeps its state (shared: one slurm.conf; slurmd's own paths by %n). */
export function slurmPaths(l: TestbedLayout): { dir: string; conf: string; ctld: string; jobcomp: string; mungedOurs: string; node: (name: string) => string } {
  const dir = join(l.stateFile, '..', 'slurm');
  // slurmctld (the slurm user) writes the completion records: beside its state.
  return { dir, conf: join(dir, 'slurm.conf'), ctld: join(dir, 'ctld'), jobcomp: join(dir, 'ctld', 'jobcomp.txt'), mungedOurs: join(dir, 'munged.pid'), node: (name) => join(dir, 'nodes', name) };
}

/**
 * slurm.conf for the testbed, as a small site would write it: the head's slurmctld (its host name
 * is its node name, which slurmctld insists on), every node's slurmd at its interconnect address,
 * one partition, Prolog/Epilog through vTorque's include (setup --slurm on every node, the same
 * path), accounting by job completion file (sacct -c) since there is no slurmdbd.
 */
export function renderSlurmConf(tb: Testbed, l: TestbedLayout): string {
  const p = slurmPaths(l);
  const head = tb.nodes[0] as TestbedNode;
  const n = join(p.dir, 'nodes', '%n');
  return [
    `# Written by vtorque testbed up (${tb.name}); rewritten by every up.`,
    `ClusterName=${tb.name}`,
    `SlurmctldHost=${head.name}(${head.address})`,
    'SlurmUser=slurm',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    `StateSaveLocation=${p.ctld}`,
    `SlurmctldPidFile=${join(p.ctld, 'slurmctld.pid')}`,
    `SlurmctldLogFile=${join(p.ctld, 'slurmctld.log')}`,
    `SlurmdSpoolDir=${join(n, 'spool')}`,
    `SlurmdPidFile=${join(n, 'slurmd.pid')}`,
    `SlurmdLogFile=${join(n, 'slurmd.log')}`,
    ...slurmLocalSettings(p.jobcomp),
    ...tb.nodes.map((x) => `NodeName=${x.name} NodeAddr=${x.address} CPUs=${cpus().length} RealMemory=4000 State=UNKNOWN`),
    `PartitionName=batch Nodes=${tb.nodes.map((x) => x.name).join(',')} Default=YES MaxTime=INFINITE State=UP`,
    `Include ${join(l.installDir, 'lib', 'vtorque', 'hooks', 'slurm.conf')}`,
    '',
  ].join('\n');
}

/**
 * What a Slurm of its own on one host needs, measured here (slurm-hook-contract.md): no systemd,
 * cgroups or slurmdbd (completion records in `jobcomp` for `sacct -c`), jobs started on the next
 * scheduler tick, a node back in service after a failed hook once it answers, no mail program.
 */
export function slurmLocalSettings(jobcomp: string): string[] {
  return [
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'JobAcctGatherType=jobacct_gather/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core_Memory',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/filetxt',
    `JobCompLoc=${jobcomp}`,
    'SchedulerParameters=batch_sched_delay=0',
    'ReturnToService=2',
    'MpiDefault=none',
    // The default (/usr/bin/mail) is not installed: an error at every start otherwise.
    'MailProg=/bin/true',
  ];
}

/**
 * The live pid of a Slurm daemon inside the node's netns. Debian's daemons are alternatives
 * (/usr/sbin/slurmctld -> slurmctld-wlm), and slurmctld's helper slurmscriptd runs the same
 * binary: the process name tells them apart.
 */
export async function slurmPid(node: TestbedNode, program: SlurmDaemon): Promise<number | null> {
  for (const pid of await netnsPids(node.name)) {
    if (commOf(pid) === program && (programOf(pid) ?? '').startsWith(program) && pidInNetns(pid, node.name) && isAlive(pid)) return pid;
  }
  return null;
}

function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}


/** munged is the machine's (its socket is a file every namespace sees): started only when none runs, and then ours to stop. */
async function ensureMunged(l: TestbedLayout, log: (line: string) => void): Promise<void> {
  const pid = readPidFile('/run/munge/munged.pid');
  if (pid !== null && commOf(pid) === 'munged' && isAlive(pid)) return;
  mkdirSync('/run/munge', { recursive: true });
  await run('chown', ['munge:munge', '/run/munge'], { timeoutMs: 10_000 });
  if (!existsSync('/etc/munge/munge.key')) await run('runuser', ['-u', 'munge', '--', 'mungekey', '--create'], { timeoutMs: 30_000 });
  await run('runuser', ['-u', 'munge', '--', '/usr/sbin/munged'], { timeoutMs: 30_000 });
  const started = await pollUntil(() => {
    const p = readPidFile('/run/munge/munged.pid');
    return p !== null && commOf(p) === 'munged' ? p : null;
  }, 10_000, 100);
  if (started === null) throw new TestbedError('up', 'COMMAND_FAILED', 'munged did not start (runuser -u munge -- /usr/sbin/munged)', { fault: 'node' });
  writeFileSync(slurmPaths(l).mungedOurs, `${started}\n`, { mode: 0o644 });
  log(`munged pid ${started} (started by the testbed)`);
}

/** Stop the munged the testbed started, if it did. */
export async function stopOurMunged(l: TestbedLayout): Promise<string | null> {
  const file = slurmPaths(l).mungedOurs;
  const pid = readPidFile(file);
  if (pid === null) return null;
  rmSync(file, { force: true });
  return commOf(pid) === 'munged' ? `munged pid ${pid}: ${await terminate(pid)}` : null;
}

/**
 * slurmd 22.05 initialises its cgroup plugin whatever ProctrackType says, and the node's own
 * /sys has nothing at /sys/fs/cgroup. What it accepts, found here: the host's layout (cgroup v1),
 * i.e. a tmpfs there with the named `systemd` hierarchy mounted below it (cgroup2 alone is refused
 * as "Hybrid mode", since the processes' /proc/self/cgroup shows the host's v1 controllers). Both
 * mounts are in the node's mount namespace only; nothing changes in the host's cgroups.
 */
async function cgroupsForSlurmd(holder: number): Promise<void> {
  const inNs = async (argv: string[], reject = true): Promise<number | null> => (await run(...split(inNode(holder, argv)), { timeoutMs: 10_000, reject })).exitCode;
  if ((await inNs(['mountpoint', '-q', '/sys/fs/cgroup'], false)) !== 0) await inNs(['mount', '-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', '/sys/fs/cgroup']);
  if ((await inNs(['mountpoint', '-q', '/sys/fs/cgroup/systemd'], false)) !== 0) {
    await inNs(['mkdir', '-p', '/sys/fs/cgroup/systemd']);
    await inNs(['mount', '-t', 'cgroup', '-o', 'none,name=systemd', 'cgroup', '/sys/fs/cgroup/systemd']);
  }
}

/** Start what is not running: munged, the head's slurmctld, every node's slurmd (inside the node's namespaces). */
export async function startSlurm(tb: Testbed, l: TestbedLayout, holders: ReadonlyMap<string, number>): Promise<void> {
  const p = slurmPaths(l);
  for (const dir of [p.dir, p.ctld, ...tb.nodes.map((x) => join(p.node(x.name), 'spool'))]) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const slurm = await run('id', ['-u', 'slurm'], { timeoutMs: 10_000, reject: false });
  if (slurm.exitCode !== 0) throw new TestbedError('up', 'NOT_SUPPORTED', 'no user slurm: install Slurm first (apt-get install slurmctld slurmd slurm-client munge)', { fault: 'node' });
  const gid = Number((await run('id', ['-g', 'slurm'], { timeoutMs: 10_000 })).stdout.trim());
  chownSync(p.ctld, Number(slurm.stdout.trim()), gid);
  writeFileSync(p.conf, renderSlurmConf(tb, l), { mode: 0o644 });
  await ensureMunged(l, tb.log);
  for (const node of tb.nodes) {
    const holder = holders.get(node.name) as number;
    for (const program of slurmDaemonsOf(node)) {
      if ((await slurmPid(node, program)) !== null) continue;
      if (program === 'slurmd') await cgroupsForSlurmd(holder);
      const argv = program === 'slurmctld' ? ['/usr/sbin/slurmctld', '-f', p.conf] : ['/usr/sbin/slurmd', '-f', p.conf, '-N', node.name];
      // Both daemonise (the command returns); their pid is found in the node's netns.
      await run(...split(inNode(holder, argv)), { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, timeoutMs: 60_000 });
      const pid = await pollUntil(() => slurmPid(node, program), 15_000, 200);
      if (pid === null) throw new TestbedError('up', 'COMMAND_FAILED', `node ${node.name}: ${program} is not running 15 s after its start (see ${program === 'slurmctld' ? join(p.ctld, 'slurmctld.log') : join(p.node(node.name), 'slurmd.log')})`, { fault: 'node' });
      tb.log(`node ${node.name}: ${program} pid ${pid}`);
    }
  }
}

const split = (argv: string[]): [string, string[]] => [argv[0] as string, argv.slice(1)];

/** sinfo's state per node, as the controller reports it ({} when it does not answer). */
export async function slurmNodeStates(l: TestbedLayout, headHolder: number): Promise<Record<string, string>> {
  const r = await run(...split(inNode(headHolder, ['/usr/bin/sinfo', '-h', '-N', '-o', '%N %T'])), { env: { PATH: '/usr/bin:/bin', SLURM_CONF: slurmPaths(l).conf }, timeoutMs: 20_000, reject: false });
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const [name, state] = line.trim().split(/\s+/);
    if (name && state) out[name] = state;
  }
  return out;
}

/** Every node idle (a node a failed hook left drained is resumed). */
export async function waitSlurmIdle(tb: Testbed, l: TestbedLayout, headHolder: number, timeoutMs = 60_000): Promise<Record<string, string>> {
  const until = performance.now() + timeoutMs;
  let states: Record<string, string> = {};
  while (performance.now() < until) {
    states = await slurmNodeStates(l, headHolder);
    const notIdle = tb.nodes.filter((n) => states[n.name] !== 'idle');
    if (notIdle.length === 0) return states;
    for (const n of notIdle) {
      if (/drain|down/.test(states[n.name] ?? '')) {
        await run(...split(inNode(headHolder, ['/usr/bin/scontrol', 'update', `nodename=${n.name}`, 'state=resume'])), { env: { PATH: '/usr/bin:/bin', SLURM_CONF: slurmPaths(l).conf }, timeoutMs: 20_000, reject: false });
      }
    }
    await sleep(500);
  }
  throw new TestbedError('up', 'TIMEOUT', `Slurm nodes not idle after ${Math.round(timeoutMs / 1000)} s: ${tb.nodes.map((n) => `${n.name} ${states[n.name] ?? 'unknown'}`).join(', ')}`, { fault: 'node' });
}
