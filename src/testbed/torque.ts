import { cpSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { run } from '../core/exec/run.js';
import { netnsPids, pidInNetns, pollUntil, programOf, sleep } from '../sandbox/index.js';
import { TestbedError } from './errors.js';
import type { NodeLayout } from './layout.js';
import { inNode } from './node-ns.js';
import type { Testbed, TestbedNode } from './options.js';

/** Seconds pbs_mom gives a prologue on the testbed: several TCG guests per node boot slowly. */
export const TESTBED_PROLOGALARM = 1500;
export const TORQUE_DAEMONS = ['trqauthd', 'pbs_server', 'pbs_sched', 'pbs_mom'] as const;
export type TorqueDaemon = (typeof TORQUE_DAEMONS)[number];

/** Which daemons a node runs: every node a pbs_mom; the head also the server, scheduler and trqauthd (for its clients). */
export function daemonsOf(node: TestbedNode): readonly TorqueDaemon[] {
  return node.index === 1 ? TORQUE_DAEMONS : ['pbs_mom'];
}

/** pbs_mom's config on a node: the head is the server; output is copied back through the shared /home. */
export function renderMomConfig(tb: Testbed): string {
  const head = tb.nodes[0] as TestbedNode;
  return [`$pbsserver ${head.name}`, '$logevent 255', '$loglevel 4', '$usecp *:/home /home', `$prologalarm ${TESTBED_PROLOGALARM}`, ''].join('\n');
}

/**
 * A node's TORQUE_HOME: a copy of the installed skeleton (made once; a later up keeps the
 * server's database and the jobs' spool), with the head as server and the node's mom config.
 */
export function prepareTorqueHome(tb: Testbed, nl: NodeLayout): void {
  if (!existsSync(join(tb.torqueHome, 'server_priv'))) {
    throw new TestbedError('up', 'NOT_SUPPORTED', `no Torque home skeleton at ${tb.torqueHome} (install Torque first, e.g. ../shared/torque/install.sh)`, { fault: 'node' });
  }
  if (!existsSync(join(nl.torqueHome, 'mom_priv'))) {
    cpSync(tb.torqueHome, nl.torqueHome, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, filter: (src) => isSkeleton(relative(tb.torqueHome, src), statSync(src).isDirectory()) });
  }
  writeFileSync(join(nl.torqueHome, 'server_name'), `${(tb.nodes[0] as TestbedNode).name}\n`, { mode: 0o644 });
  writeFileSync(join(nl.torqueHome, 'mom_priv', 'config'), renderMomConfig(tb), { mode: 0o644 });
}

/**
 * What of an installed TORQUE_HOME a fresh node takes: every directory, and the files that are
 * configuration (pbs_environment, sched_priv's), never runtime state of the Torque that runs
 * there (a server database with its job counter and nodes, jobs, spools, logs, locks, hooks).
 */
export function isSkeleton(rel: string, isDir: boolean): boolean {
  if (isDir || rel === '') return true;
  if (/^(server_priv|server_logs|mom_logs|sched_logs|job_logs|spool|aux|undelivered|checkpoint|mom_priv)\//.test(rel)) return false;
  return !rel.endsWith('.lock');
}

/** The live pid of a Torque daemon inside the node's netns (every process there is the testbed's). */
export async function torquePid(node: TestbedNode, program: TorqueDaemon): Promise<number | null> {
  for (const pid of await netnsPids(node.name)) if (programOf(pid) === program && pidInNetns(pid, node.name)) return pid;
  return null;
}

const inHead = async (holder: number, argv: readonly string[], reject = true): Promise<{ exitCode: number | null; stdout: string; stderr: string }> => {
  const [file, ...args] = inNode(holder, argv);
  return run(file as string, args, { timeoutMs: 60_000, reject });
};

/** Start what is not running on one node (the head's server first: moms report to it). */
export async function startTorque(tb: Testbed, node: TestbedNode, nl: NodeLayout, holder: number): Promise<void> {
  const sbin = join(tb.torquePrefix, 'sbin');
  for (const program of daemonsOf(node)) {
    if ((await torquePid(node, program)) !== null) continue;
    const argv = [join(sbin, program), ...(program === 'trqauthd' ? [] : ['-d', tb.torqueHome])];
    // -t create on an existing database would ask for confirmation: only on a fresh home.
    if (program === 'pbs_server' && !existsSync(join(nl.torqueHome, 'server_priv', 'serverdb'))) argv.push('-t', 'create', '-f');
    await inHead(holder, argv);
    const pid = await pollUntil(() => torquePid(node, program), 15_000, 200);
    if (pid === null) throw new TestbedError('up', 'COMMAND_FAILED', `node ${node.name}: ${program} is not running 15 s after its start`, { fault: 'node' });
    tb.log(`node ${node.name}: ${program} pid ${pid}`);
    if (program === 'pbs_server') await configureServer(tb, holder);
  }
}

/** Queue `batch`, the nodes with np = this host's cores, scheduling on; idempotent (an existing entry is kept). */
async function configureServer(tb: Testbed, holder: number): Promise<void> {
  const head = (tb.nodes[0] as TestbedNode).name;
  const qmgr = join(tb.torquePrefix, 'bin', 'qmgr');
  const np = cpus().length;
  const commands = [
    'set server scheduling = true', 'set server keep_completed = 600', `set server acl_hosts = ${head}`,
    `set server operators += root@${head}`, `set server managers += root@${head}`, 'set server log_events = 511',
    'create queue batch', 'set queue batch queue_type = execution', 'set queue batch enabled = true', 'set queue batch started = true',
    'set queue batch resources_default.walltime = 01:00:00', 'set server default_queue = batch', 'set server node_check_rate = 150', 'set server job_stat_rate = 45',
    ...tb.nodes.map((n) => `create node ${n.name} np=${np}`),
  ];
  // The server takes a moment to accept clients after it forks.
  for (let i = 0; i < 30; i++) {
    if ((await inHead(holder, [qmgr, '-c', 'list server'], false)).exitCode === 0) break;
    await sleep(500);
  }
  for (const c of commands) {
    const r = await inHead(holder, [qmgr, '-c', c], false);
    if (r.exitCode !== 0 && !/already exists|duplicate/i.test(`${r.stdout}${r.stderr}`)) {
      throw new TestbedError('up', 'COMMAND_FAILED', `qmgr -c "${c}" on ${head}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`, { fault: 'node' });
    }
  }
}

/** pbsnodes' state per node, as the head's server reports it ({} when the server does not answer). */
export async function nodeStates(tb: Testbed, holder: number): Promise<Record<string, string>> {
  const r = await inHead(holder, [join(tb.torquePrefix, 'bin', 'pbsnodes'), '-a'], false);
  const out: Record<string, string> = {};
  let current = '';
  for (const line of r.stdout.split('\n')) {
    if (/^\S/.test(line)) current = line.trim();
    const m = /^\s+state = (.*)$/.exec(line);
    if (m && current) out[current] = (m[1] as string).trim();
  }
  return out;
}

/** Clear every node's offline flag until all are free (a node created with qmgr starts offline). */
export async function waitNodesFree(tb: Testbed, holder: number, timeoutMs = 90_000): Promise<Record<string, string>> {
  const pbsnodes = join(tb.torquePrefix, 'bin', 'pbsnodes');
  const until = performance.now() + timeoutMs;
  let states: Record<string, string> = {};
  while (performance.now() < until) {
    states = await nodeStates(tb, holder);
    const notFree = tb.nodes.filter((n) => states[n.name] !== 'free');
    if (notFree.length === 0) return states;
    for (const n of notFree) await inHead(holder, [pbsnodes, '-c', n.name], false);
    await sleep(1000);
  }
  throw new TestbedError('up', 'TIMEOUT', `nodes not free after ${Math.round(timeoutMs / 1000)} s: ${tb.nodes.map((n) => `${n.name} ${states[n.name] ?? 'unknown'}`).join(', ')}`, { fault: 'node' });
}
