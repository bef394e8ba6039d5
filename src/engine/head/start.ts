import { NODE_FILE_DIR, VM_KNOWN_HOSTS_PATH, VM_SPOOL_DIR, VM_SSH_KEY_PATH } from '../../core/contract/guest-layout.v1.js';
import type { VmRecord } from '../../core/contract/job-state.v1.js';
import { VtorqueError } from '../../core/errors.js';
import { customMacs } from '../custom-mac.js';
import { guestKnownHosts, vmNodeFile, writeGuestFiles } from '../guest-files.js';
import { jobDirName } from '../naming.js';
import type { NodeAccess, NodeBooted, NodePrepared, NodeReservation } from '../node/index.js';
import { planJob } from '../plan.js';
import { Timeline, type PhaseMark } from '../timeline.js';
import type { JobPlan } from '../types.js';
import { waitUntilReachable } from './readiness.js';
import type { HeadContext, StartInput } from './types.js';
import { settleAll } from './settle.js';

export interface StartedOnNodes {
  readonly plan: JobPlan;
  /** Every VM of the job in rank order. */
  readonly vms: readonly VmRecord[];
  readonly timeline: readonly PhaseMark[];
}

/** Nodes worked on at once by one start (each node bounds its own VMs' work too). */
const NODE_FAN_OUT = 16;

/**
 * plan → prepare → boot → ready for one job over its nodes (in rank order: the first runs rank 0),
 * under one overall deadline (input.deadlineAt). Every node is held (its lock) from its
 * observation until its VMs are started, so the plan never shares free CPUs, MACs or qemu uids
 * with another job's; the long waits (addresses, SSH) run after. Nodes are worked on concurrently
 * (bounded) and each phase waits for all of them, but for prepare: the first node makes the job's
 * one user key before the others are given it. Any failure tears down every node's part before
 * the error propagates.
 */
export async function startOnNodes(input: StartInput, nodes: readonly NodeAccess[], head: HeadContext): Promise<StartedOnNodes> {
  const c = head.config;
  if (nodes.length === 0) throw new VtorqueError('INTERNAL', 'a job start needs at least one node', { fault: 'node' });
  const t = new Timeline();
  if (input.record) input.record.marks = t.marks;
  const deadline = input.deadlineAt - Date.now();
  const left = (): number => Math.max(1, Math.min(c.TIMEOUT * 1000, deadline - t.elapsedMs()));
  const say = (line: string): void => head.progress?.(`[vtorque ${(t.elapsedMs() / 1000).toFixed(1)}s] ${line}`);
  const fanOut = c.PARALLEL ? NODE_FAN_OUT : 1;
  const many = (errors: readonly unknown[]): void => head.log.warn({ errors: errors.map(String) }, 'more than one node failed');
  const where = (n: NodeAccess): string => (nodes.length > 1 ? ` on node ${n.name}` : '');
  // Set once the plan exists: from then on a failure tears down whatever was made.
  const made: { plan?: JobPlan } = {};
  try {
    const held = new Map<NodeAccess, NodeReservation>();
    let plan: JobPlan;
    let prepared: NodePrepared[];
    let jobKey: Buffer;
    let booted: NodeBooted[];
    let startedAt: number;
    try {
      plan = await t.phase('plan', async () => {
        // One node at a time, in name order: two jobs sharing nodes take their locks in the same
        // order, so neither ever holds one the other waits for while waiting for one it holds.
        for (const node of [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          const r = await node.reserve({ timeoutMs: left(), onWait: () => say(`another job is starting VMs on ${nodes.length > 1 ? `node ${node.name}` : 'this node'}; waiting for the node lock`) });
          held.set(node, r);
          // The plan names each VM's node by the state; the node prepares the VMs of its own name.
          if (r.state.name !== node.name) throw new VtorqueError('INTERNAL', `node ${node.name} reports itself as ${JSON.stringify(r.state.name)}`, { fault: 'node' });
        }
        const states = nodes.map((n) => (held.get(n) as NodeReservation).state);
        const macs = c.CUSTOM_IP_MAPPING ? await customMacs(c, states.map((s) => s.name), input.request.vms_per_node) : undefined;
        return planJob({ job: input.job, request: input.request, config: c, nodes: states, baseImage: input.baseImage, uuid: input.uuid }, macs);
      });
      made.plan = plan;
      for (const v of plan.vms) input.record?.vms.set(v.name, { node: v.node, addressMs: null, readyMs: null });
      input.onPlanned?.(plan);
      say(`planned ${plan.vms.length} VM(s): ${plan.vms.map((v) => `${v.name} (${v.vcpus} vCPU, ${v.memoryMiB} MiB)`).join(', ')}`);
      const reservationOf = (n: NodeAccess): NodeReservation => held.get(n) as NodeReservation;
      const prepareInput = { guestEnv: input.guestEnv, boot: input.boot };
      prepared = await t.phase('prepare', async () => {
        // One user key per job, so the job's VMs reach each other: the node of rank 0 (the first)
        // makes it, then the others are given it, concurrently. The first prepare is short (~0.1-1 s).
        const [first, ...rest] = nodes as [NodeAccess, ...NodeAccess[]];
        const made0 = await reservationOf(first).prepare(plan, prepareInput);
        const others = await settleAll(rest.map((n) => () => reservationOf(n).prepare(plan, { ...prepareInput, jobKey: made0.userKey })), fanOut, many);
        return [made0, ...others];
      });
      jobKey = (prepared[0] as NodePrepared).userKey;
      // A node that kept a key of its own (an agent that ignores jobKey) would leave its VMs unreachable from the others.
      for (const [i, p] of prepared.entries()) {
        if (!p.userKey.equals(jobKey)) throw new VtorqueError('INTERNAL', `node ${(nodes[i] as NodeAccess).name} holds another job key than the one it was given`, { fault: 'node' });
      }
      say('disks and seeds ready; starting VMs');
      booted = await t.phase('boot', () => settleAll(nodes.map((n) => () => reservationOf(n).boot({ timeoutMs: left() })), fanOut, many));
      startedAt = performance.now();
    } finally {
      await settleAll([...held.values()].map((r) => () => r.release()), fanOut).catch((err: unknown) => head.log.warn({ err: String(err) }, 'releasing a node lock failed'));
    }
    say(`${plan.vms.length} VM(s) running; waiting for their addresses`);

    const facts = new Map(nodes.flatMap((n, i) => (prepared[i] as NodePrepared).vms.map((f) => [f.name, { node: n, key: jobKey, ...f }] as const)));
    const factsOf = (name: string) => {
      const f = facts.get(name);
      if (!f) throw new VtorqueError('INTERNAL', `VM ${name} of the plan was not prepared on its node`, { fault: 'node' });
      return f;
    };
    let ips = new Map<string, string>();
    if (nodes.some((n) => n.domainType !== 'test')) {
      ips = await waitUntilReachable(input, head, {
        plan,
        nodes,
        vm: factsOf,
        booted: new Map(nodes.map((n, i) => [n.name, booted[i] as NodeBooted])),
        startedAt,
        t,
        say,
        deadlineAt: performance.now() + Math.max(1, deadline - t.elapsedMs()),
      });
      say('all VMs accept SSH');
      const nodeFile = vmNodeFile(plan.vms.map((v) => ({ ip: ips.get(v.mac) ?? null, vcpus: v.vcpus })));
      const guestPath = `${NODE_FILE_DIR}/${jobDirName(input.job.jobId)}`;
      // The job's key and every VM's host key in every VM: the job can ssh from one VM to any other (MPI).
      const knownHosts = guestKnownHosts(plan.vms.map((v) => ({ name: v.name, ip: ips.get(v.mac) ?? '', hostname: v.hostname, hostKey: factsOf(v.name).hostKeyPublic })));
      const files = [
        { path: guestPath, content: nodeFile, mode: 0o644 },
        { path: VM_SSH_KEY_PATH, content: jobKey, mode: 0o600 },
        { path: VM_KNOWN_HOSTS_PATH, content: knownHosts, mode: 0o644 },
      ];
      await t.phase('nodefile', () =>
        settleAll(
          plan.vms.map((v) => () => writeGuestFiles({ host: ips.get(v.mac) as string, user: input.job.owner.user, privateKey: jobKey, hostKey: factsOf(v.name).hostKeyPublic, timeoutMs: left() }, files)),
          c.PARALLEL ? 8 : 1,
        ),
      );
      say(`VM node file written to ${guestPath}, the job key and known_hosts to ${VM_SPOOL_DIR}, in every VM`);
    }
    const vms = plan.vms.map((v): VmRecord => ({
      name: v.name,
      node: v.node,
      rank: v.rank,
      hostname: v.hostname,
      mac: v.mac,
      ip: ips.get(v.mac) ?? null,
      vcpus: v.vcpus,
      hostKey: factsOf(v.name).hostKeyPublic,
      persistentDisk: factsOf(v.name).persistentDisk,
    }));
    // The node of rank 0 (where the job script runs) records every VM of the job, so its runner
    // knows the whole job (PBS_NP, the rank layout, every VM's pinned host key); each other node
    // records its own, which is what its teardown reads.
    await settleAll(nodes.map((n, i) => () => n.writeVmRecords(input.job.jobId, i === 0 ? vms : vms.filter((v) => v.node === n.name))), fanOut, many);
    return { plan, vms, timeline: t.marks };
  } catch (err) {
    if (made.plan === undefined) throw err; // no lock, or no plan: nothing was made
    say(`start failed after ${(t.elapsedMs() / 1000).toFixed(1)} s: ${err instanceof Error ? err.message : String(err)}; tearing down`);
    await Promise.all(
      nodes.map((n) => n.stopVms(input.job.jobId, { keepLogs: input.request.debug }).catch((e: unknown) => head.log.warn({ node: n.name, err: String(e) }, `teardown after a failed start failed${where(n)}`))),
    );
    throw err;
  }
}
