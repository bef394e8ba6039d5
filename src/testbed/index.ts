/**
 * `vtorque testbed up|down|status|exec`: a virtual cluster on one host, for trying vTorque's
 * multi-node VM jobs under real Torque before touching a cluster (doc/testbed.md).
 *
 * - Node i (`<name>-n<i>`) is a network namespace, a mount namespace and a UTS namespace, held by
 *   one `sleep` of ours. Inside it, /etc/hosts, the Torque home, the vTorque install directory and
 *   /tmp are the node's own (layout.ts), and so are libvirtd and virtlogd (the sandbox's binds).
 * - It runs its own libvirtd with a routed guest network `<subnet>.<i>.0/24`, its own sshd (its own
 *   host key; root by the testbed's key only), its own pbs_mom; node 1 also pbs_server, pbs_sched
 *   and trqauthd. `vtorque setup` is installed into every node's mom_priv.
 * - The nodes are joined by a bridge inside the hub netns `<name>-hub` (never in the root
 *   namespace), on `<subnet>.0.(10+i)`, with routes to every other node's guests.
 * - `down` ends every process by a pid checked to be that program inside that node's netns,
 *   deletes the namespaces and the state directory.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { run } from '../core/exec/run.js';
import { TestbedError } from './errors.js';
import { testbedLayout } from './layout.js';
import { holderPid, inNode } from './node-ns.js';
import { resolveTestbedOptions, type TestbedOptions } from './options.js';
import { requireTestbedTools } from './preconditions.js';
import { readRecord } from './record.js';
import { slurmPaths } from './slurm.js';
import { collectTestbedStatus, type TestbedStatus } from './status.js';

export { testbedUp } from './up.js';
export { testbedDown } from './down.js';
export { formatTestbedStatus, type TestbedStatus, type TestbedNodeStatus } from './status.js';
export { TestbedError } from './errors.js';
export { TESTBED_DEFAULTS, MAX_NODES, nodeName, resolveTestbedOptions, type Testbed, type TestbedNode, type TestbedOptions } from './options.js';
export { testbedLayout, type TestbedLayout } from './layout.js';
export { inNode } from './node-ns.js';

/** The node count up recorded (status and exec need no --nodes). */
function recordedOptions(opts: TestbedOptions): TestbedOptions {
  const base = resolveTestbedOptions({ ...opts, nodes: 1 });
  const record = readRecord(testbedLayout(base).stateFile);
  return { ...opts, nodes: opts.nodes ?? record?.nodes ?? 1, scheduler: opts.scheduler ?? record?.scheduler ?? 'torque' };
}

export async function testbedStatus(opts: TestbedOptions): Promise<TestbedStatus> {
  const tb = resolveTestbedOptions(recordedOptions(opts));
  requireTestbedTools(tb, 'status');
  return collectTestbedStatus(tb);
}

/** The argv that runs `argv` on a node of a running testbed (as root; the caller adds setpriv for a user). */
export function testbedNodeArgv(opts: TestbedOptions, node: string, argv: readonly string[]): string[] {
  const tb = resolveTestbedOptions(recordedOptions(opts));
  const n = tb.nodes.find((x) => x.name === node || String(x.index) === node);
  if (!n) throw new TestbedError('exec', 'USAGE', `no node ${JSON.stringify(node)}; the nodes are ${tb.nodes.map((x) => x.name).join(', ')} (or 1-${tb.nodes.length})`, { fault: 'job' });
  const holder = holderPid(n, testbedLayout(tb).node(n));
  if (holder === null) throw new TestbedError('exec', 'USAGE', `node ${n.name} is not up (vtorque testbed up first)`, { fault: 'job' });
  return inNode(holder, argv);
}

/**
 * `argv` as `user` (setpriv: his uid, gid and groups; a clean login-like environment with
 * Torque's and the node's vTorque's bin first on PATH), for `testbed exec --user`.
 */
export async function asUserArgv(opts: TestbedOptions, user: string, argv: readonly string[]): Promise<string[]> {
  const tb = resolveTestbedOptions(recordedOptions(opts));
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new TestbedError('exec', 'USAGE', `--user ${JSON.stringify(user)}: expected a user name`, { fault: 'job' });
  const pw = (await run('getent', ['passwd', user], { timeoutMs: 10_000, reject: false })).stdout.trim().split(':');
  if (pw.length < 7) throw new TestbedError('exec', 'USAGE', `--user ${user}: no such user`, { fault: 'job' });
  const l = testbedLayout(tb);
  const env = {
    HOME: pw[5] as string, USER: user, LOGNAME: user, SHELL: pw[6] as string, LANG: 'C.UTF-8', PATH: `${join(l.installDir, 'bin')}:${join(tb.torquePrefix, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
    ...(tb.scheduler === 'slurm' ? { SLURM_CONF: slurmPaths(l).conf } : {}),
  };
  return ['setpriv', `--reuid=${pw[2]}`, `--regid=${pw[3]}`, '--init-groups', '--', 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv];
}

/** Run `argv` on a node with this process's stdio; its exit code. */
export function testbedExec(opts: TestbedOptions, node: string, argv: readonly string[]): Promise<number> {
  requireTestbedTools(resolveTestbedOptions({ ...opts, nodes: 1 }), 'exec');
  const full = testbedNodeArgv(opts, node, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(full[0] as string, full.slice(1), { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}
