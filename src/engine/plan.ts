import { join } from 'node:path';
import { parseUidRange, type SiteConfig } from '../core/config/index.js';
import { VtorqueError } from '../core/errors.js';
import { deriveMac } from './mac.js';
import { jobDirPath } from '../core/contract/job-state.v1.js';
import { domainName, guestHostname } from './naming.js';
import { assignCpus, CapacityError } from './pinning.js';
import type { JobPlan, NodeState, PlanInput, VmPlan } from './types.js';

export { CapacityError } from './pinning.js';

/**
 * Plan every VM of a job: names, UUIDs, MACs, CPU placement, memory and file locations, after
 * checking each node can hold its share. Pure: all facts about the nodes come in as data.
 * `customMacs` (from the admin's IP_TO_MAC_SCRIPT) replaces derived MACs when given.
 */
export function planJob(input: PlanInput, customMacs?: (node: string, index: number) => string): JobPlan {
  const { request: r, config: c, job } = input;
  const jobDir = jobDirPath(c.SPOOL_DIR, job.jobId);
  const vms: VmPlan[] = [];
  let rank = 0;
  for (const node of input.nodes) {
    checkCapacity(node, input);
    const pins = assignCpus(
      node.capacity,
      { vms: r.vms_per_node, vcpus: r.vcpus, mode: typeof r.vcpu_pinning === 'object' ? r.vcpu_pinning.cpus : r.vcpu_pinning, hostReserved: c.HOST_OS_CORE_COUNT, busy: node.busyCpus },
      node.name,
    );
    const used = new Set(node.usedMacs);
    for (let index = 1; index <= r.vms_per_node; index++) {
      const name = domainName(job.jobId, node.name, index);
      const mac = customMacs ? customMacs(node.name, index) : deriveMac(c.MAC_PREFIX, job.jobId, node.name, index, used);
      if (used.has(mac)) throw new CapacityError(`node ${node.name}: MAC ${mac} for VM ${index} is already in use on the node`, 'node');
      used.add(mac);
      const cpus = pins.cpus[index - 1] ?? [];
      vms.push({
        name,
        uuid: input.uuid(),
        node: node.name,
        index,
        rank,
        hostname: guestHostname(node.name, index),
        mac,
        vcpus: r.vcpus,
        memoryMiB: r.ram,
        pins: cpus.map((cpu, vcpu) => ({ vcpu, cpu })),
        numaNodes: pins.numaNodes[index - 1] ?? [],
        ...vmFiles(jobDir, name),
        persistentDisk: rank === 0 ? r.disk : null,
      });
      rank++;
    }
  }
  const qemuUid = c.QEMU_USER === 'job-uid' ? pickQemuUid(c, input.nodes) : null;
  return { job, jobDir, baseImage: input.baseImage, request: r, vms, qemuUid };
}

/** Where a VM's files are in a job directory (root-owned, node-local). */
function vmFiles(jobDir: string, name: string): Pick<VmPlan, 'dir' | 'overlay' | 'seedIso' | 'consoleLog'> {
  const dir = join(jobDir, 'vms', name);
  return { dir, overlay: join(dir, 'disk.qcow2'), seedIso: join(dir, 'seed.iso'), consoleLog: join(dir, 'console.log') };
}

/**
 * The part of a plan one node makes, with its files where that node's own config keeps them
 * (the head planned with its config; a node's SPOOL_DIR is the node's business).
 */
export function placeOnNode(plan: JobPlan, node: string, config: Pick<SiteConfig, 'SPOOL_DIR'>): JobPlan {
  const jobDir = jobDirPath(config.SPOOL_DIR, plan.job.jobId);
  return { ...plan, jobDir, vms: plan.vms.filter((v) => v.node === node).map((v) => ({ ...v, ...vmFiles(jobDir, v.name) })) };
}

/**
 * QEMU_USER job-uid: the lowest uid of QEMU_UIDS that no domain on any of the job's nodes runs
 * as (defined or running: a defined domain keeps its uid). One uid serves all the job's VMs.
 */
export function pickQemuUid(c: Pick<SiteConfig, 'QEMU_UIDS'>, nodes: readonly Pick<NodeState, 'name' | 'busyQemuUids'>[]): number {
  const range = parseUidRange(c.QEMU_UIDS);
  if (!range) throw new VtorqueError('CONFIG_INVALID', `QEMU_USER job-uid needs QEMU_UIDS, a range START-END of uids no user or group has; it is ${JSON.stringify(c.QEMU_UIDS)}`, { fault: 'node' });
  const busy = (uid: number): boolean => nodes.some((n) => n.busyQemuUids.has(uid));
  for (let uid = range.start; uid <= range.end; uid++) if (!busy(uid)) return uid;
  const size = range.end - range.start + 1;
  throw new CapacityError(
    `QEMU_UIDS ${range.start}-${range.end}: all ${size} uid(s) are held by domains on ${nodes.map((n) => `node ${n.name}`).join(', ')} (QEMU_USER job-uid gives every job its own); wait for jobs to end, remove leftover domains (vtorque gc) or widen QEMU_UIDS`,
    'node',
  );
}

function checkCapacity(node: NodeState, input: PlanInput): void {
  const { request: r, config: c } = input;
  const n = node.name;
  if (r.vms_per_node > c.MAX_VMS_PER_NODE) {
    throw new CapacityError(`node ${n}: ${r.vms_per_node} VMs asked, MAX_VMS_PER_NODE is ${c.MAX_VMS_PER_NODE}`, 'job');
  }
  const cores = r.vcpus * r.vms_per_node + c.HOST_OS_CORE_COUNT;
  if (cores > node.capacity.cores) {
    throw new CapacityError(`node ${n}: ${r.vms_per_node} VM(s) x ${r.vcpus} vCPU(s) + ${c.HOST_OS_CORE_COUNT} host core(s) = ${cores} cores, the node has ${node.capacity.cores}`, 'job');
  }
  const mem = r.ram * r.vms_per_node;
  const avail = node.capacity.memMiB - c.HOST_OS_RAM_MB;
  if (mem > avail) {
    throw new CapacityError(`node ${n}: ${r.vms_per_node} VM(s) x ${r.ram} MiB = ${mem} MiB, the node has ${node.capacity.memMiB} MiB minus ${c.HOST_OS_RAM_MB} MiB for the host = ${avail} MiB`, 'job');
  }
  // The job would fit an empty node: what other jobs' running domains take now is the node's
  // problem (a forged request that skipped vsub's raise, a domain a crash left): requeue.
  if (mem > avail - node.heldMemMiB) {
    throw new CapacityError(`node ${n}: ${r.vms_per_node} VM(s) x ${r.ram} MiB = ${mem} MiB, but running domains already hold ${node.heldMemMiB} MiB of the ${avail} MiB the node has for VMs (${node.capacity.memMiB} MiB minus ${c.HOST_OS_RAM_MB} MiB for the host)`, 'node');
  }
}
