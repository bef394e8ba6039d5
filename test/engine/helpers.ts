import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../../src/core/config/validate.js';
import type { SiteConfig } from '../../src/core/config/schema.js';
import { buildDomainXml } from '../../src/core/libvirt/index.js';
import { createRenderer } from '../../src/core/render/index.js';
import type { VmRequest } from '../../src/core/request/types.js';
import type { BootDomain } from '../../src/engine/boot/index.js';
import type { EngineLog, LibvirtNode } from '../../src/engine/libvirt/index.js';
import { toDomainSpec } from '../../src/engine/libvirt/index.js';
import { planJob } from '../../src/engine/plan.js';
import { qemuIdentity } from '../../src/engine/qemu-identity.js';
import type { JobPlan, NodeState } from '../../src/engine/types.js';

export const TEST_URI = 'test:///default';
export const renderer = createRenderer(fileURLToPath(new URL('../../templates-vm', import.meta.url)));
export const config: SiteConfig = { ...defaultConfig(), HOST_OS_CORE_COUNT: 1, HOST_OS_RAM_MB: 1024, SPOOL_DIR: '/var/spool/vtorque', VM_NETWORK: 'jobnet' };

const request: VmRequest = {
  version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 512, vms_per_node: 4,
  vcpu_pinning: true, disk: '/home/alice/data.qcow2', vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

const node = (name: string): NodeState => ({
  name,
  capacity: { cores: 8, memMiB: 16384, numa: { 0: [0, 1, 2, 3], 1: [4, 5, 6, 7] } },
  usedMacs: new Set(),
  busyCpus: new Set(),
  busyQemuUids: new Set(),
  heldMemMiB: 0,
});

let jobs = 0;
/** A job id no other test in this process uses (test:///default is shared per process). */
export function freshJobId(): string {
  return `${++jobs}${process.pid}.srv`;
}

/** A plan of `nodes` x `perNode` VMs (all defined on the one test node). */
export function testPlan(jobId: string, nodes: readonly string[], perNode: number): JobPlan {
  return planJob({
    job: { jobId, owner: { user: 'alice', uid: 1001, gid: 1001, group: 'alice' } },
    request: { ...request, vms_per_node: perNode },
    config,
    nodes: nodes.map(node),
    baseImage: '/opt/vm-images/debian-12-x86_64.qcow2',
    uuid: randomUUID,
  });
}

/** Real domain XML (template + buildDomainXml) for every VM of the plan, type 'test'. */
export function testDomains(plan: JobPlan): BootDomain[] {
  return plan.vms.map((vm) => {
    const spec = toDomainSpec(vm, plan, {
      type: 'test',
      config,
      disk: vm.overlay,
      backing: { file: plan.baseImage, format: 'qcow2' },
      seedIso: vm.seedIso,
      boot: null,
      persistentDisk: vm.persistentDisk === null ? null : { path: vm.persistentDisk, format: 'qcow2' },
      qemu: qemuIdentity(plan, config, null),
    });
    return { name: vm.name, xml: buildDomainXml(spec, renderer) };
  });
}

/** A domain the job does not own, written by hand. */
export function foreignXml(name: string, owner?: { job: string; index?: number }): string {
  const meta = owner
    ? `<metadata><vtq:job xmlns:vtq="urn:x-vtorque:job:1" id="${owner.job}" owner="bob" node="n01" index="${owner.index ?? 1}"/></metadata>`
    : '';
  return `<domain type='test'><name>${name}</name>${meta}<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`;
}

export interface RecordedLog extends EngineLog {
  readonly lines: { level: 'info' | 'warn'; msg: string; fields: Record<string, unknown> }[];
}

export function recordLog(): RecordedLog {
  const lines: RecordedLog['lines'] = [];
  return {
    lines,
    info: (fields, msg) => void lines.push({ level: 'info', msg, fields }),
    warn: (fields, msg) => void lines.push({ level: 'warn', msg, fields }),
  };
}

export type Op = 'define' | 'start' | 'shutdown' | 'destroy' | 'undefine';

/** Wraps a node and records every state-changing call with the domain it targeted. */
export function spyNode(inner: LibvirtNode): LibvirtNode & { calls: { op: Op; name: string }[] } {
  const calls: { op: Op; name: string }[] = [];
  const rec = (op: Op, name: string) => calls.push({ op, name });
  return {
    calls,
    uri: inner.uri,
    listDomains: () => inner.listDomains(),
    xmlOf: (n) => inner.xmlOf(n),
    define: (xml) => (rec('define', /<name>([^<]*)<\/name>/.exec(xml)?.[1] ?? '?'), inner.define(xml)),
    start: (n) => (rec('start', n), inner.start(n)),
    shutdown: (n) => (rec('shutdown', n), inner.shutdown(n)),
    destroy: (n) => (rec('destroy', n), inner.destroy(n)),
    undefine: (n) => (rec('undefine', n), inner.undefine(n)),
    state: (n) => inner.state(n),
    cpuTimeMs: (n) => inner.cpuTimeMs(n),
    close: () => inner.close(),
  };
}
