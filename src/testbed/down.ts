import { existsSync, rmSync } from 'node:fs';
import { netnsExists, netnsPids, pidInNetns, programOf, sandboxDown, terminate } from '../sandbox/index.js';
import { testbedLayout } from './layout.js';
import { holderPid, libvirtLog } from './node-ns.js';
import { MAX_NODES, resolveTestbedOptions, type TestbedOptions } from './options.js';
import { requireTestbedTools } from './preconditions.js';
import { readRecord } from './record.js';
import { sshdPid } from './sshd.js';
import { collectTestbedStatus, type TestbedStatus } from './status.js';
import { slurmPid, stopOurMunged } from './slurm.js';
import { torquePid, type TorqueDaemon } from './torque.js';
import { removeInterconnect } from './topology.js';

/** Scheduler first (no new starts), then the server, its auth daemon, then every mom. */
const TORQUE_ORDER: readonly TorqueDaemon[] = ['pbs_sched', 'pbs_server', 'trqauthd', 'pbs_mom'];

/**
 * Take the testbed down (idempotent): on every node its Torque daemons, sshd, the guests and
 * libvirt (sandbox down), whatever else still runs in the node's netns (only the testbed's
 * daemons and what they started can be there), the namespace holder; then every netns and the
 * state directory. Each process is ended by a pid checked to be that program in that netns.
 */
export async function testbedDown(opts: TestbedOptions): Promise<TestbedStatus> {
  const base = resolveTestbedOptions({ ...opts, nodes: 1 });
  requireTestbedTools(base, 'down');
  const l0 = testbedLayout(base);
  // Every node up made, even when down is called without --nodes (or with fewer).
  const record = readRecord(l0.stateFile);
  const recorded = record?.nodes ?? 0;
  let count = Math.max(recorded, opts.nodes ?? 0);
  if (count === 0) for (let i = MAX_NODES; i >= 1 && count === 0; i--) if (await netnsExists(`${base.name}-n${i}`)) count = i;
  const tb = resolveTestbedOptions({ ...opts, nodes: Math.max(count, 1) });
  const l = testbedLayout(tb);
  const started = performance.now();
  const say = (line: string): void => tb.log(`[testbed down +${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const nodes = count === 0 ? [] : tb.nodes;
  // The controller first (no new starts), then every slurmd; a Torque testbed has none of them.
  for (const program of ['slurmctld', 'slurmd'] as const) {
    for (const node of nodes) {
      const pid = await slurmPid(node, program);
      if (pid !== null) say(`${node.name}: ${program} pid ${pid}: ${await terminate(pid)}`);
    }
  }
  for (const program of TORQUE_ORDER) {
    for (const node of nodes) {
      const pid = await torquePid(node, program);
      if (pid !== null) say(`${node.name}: ${program} pid ${pid}: ${await terminate(pid)}`);
    }
  }
  for (const node of [...nodes].reverse()) {
    const nl = l.node(node);
    const sshd = sshdPid(node, nl);
    if (sshd !== null) say(`${node.name}: sshd pid ${sshd}: ${await terminate(sshd)}`);
    if (await netnsExists(node.name)) {
      await sandboxDown({ name: node.name, stateDir: nl.libvirtStateDir, network: { name: tb.vmNetwork.name, bridge: tb.vmNetwork.bridge }, log: libvirtLog((line) => say(`${node.name} libvirt: ${line}`)) });
    }
    const holder = holderPid(node, nl);
    for (const pid of await netnsPids(node.name)) {
      const program = programOf(pid);
      if (pid === holder || program === null || !pidInNetns(pid, node.name)) continue;
      say(`${node.name}: leftover ${program} pid ${pid} in the node's netns: ${await terminate(pid)}`);
    }
    if (holder !== null) say(`${node.name}: namespace holder pid ${holder}: ${await terminate(holder)}`);
  }
  const munged = await stopOurMunged(l);
  if (munged !== null) say(munged);
  const gone = await removeInterconnect(tb, nodes);
  if (gone.length > 0) say(`deleted netns ${gone.join(', ')}`);
  // Only a directory up made (its record names this testbed): --state-dir is a path an admin typed.
  if (record?.name === tb.name) {
    rmSync(tb.stateDir, { recursive: true, force: true });
    say(`removed ${tb.stateDir}`);
  } else if (existsSync(tb.stateDir)) say(`left ${tb.stateDir}: it holds no record of testbed ${tb.name} (${l0.stateFile}), so up did not make it`);
  const status = await collectTestbedStatus(tb);
  return status;
}
