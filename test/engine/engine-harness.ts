import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/core/config/validate.js';
import type { SiteConfig } from '../../src/core/config/schema.js';
import { createRenderer } from '../../src/core/render/index.js';
import type { VmRequest } from '../../src/core/request/types.js';
import type { EngineContext, LibvirtNode, LocalStartInput, NodeState } from '../../src/engine/index.js';
import { loadUserDataBase } from '../../src/guest/index.js';
import { REPO } from '../helpers/site.js';

/** A scratch site for engine runs: spool, ramdisk parent and pool with a tiny real qcow2 base. */
export function engineSite(over: Partial<SiteConfig> = {}): { config: SiteConfig; baseImage: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'vtq-engine-'));
  for (const d of ['spool', 'ramdisk', 'pool']) mkdirSync(join(root, d), { mode: 0o755 });
  const baseImage = join(root, 'pool', 'debian-12-x86_64.qcow2');
  spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', baseImage, '64M'], { stdio: 'ignore' });
  const config: SiteConfig = {
    ...defaultConfig(),
    SPOOL_DIR: join(root, 'spool'),
    RAMDISK_DIR: join(root, 'ramdisk'),
    VM_IMG_DIR: join(root, 'pool'),
    HOST_OS_CORE_COUNT: 0,
    HOST_OS_RAM_MB: 0,
    MAX_VMS_PER_NODE: 16,
    VM_NETWORK: 'jobnet',
    ...over,
  };
  return { config, baseImage, root };
}

export const baseRequest: VmRequest = {
  version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 256, vms_per_node: 2,
  vcpu_pinning: true, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

export function bigNode(name = 'node01'): NodeState {
  return { name, capacity: { cores: 16, memMiB: 65536, numa: { 0: [...Array(16).keys()] } }, usedMacs: new Set(), busyCpus: new Set(), busyQemuUids: new Set(), heldMemMiB: 0 };
}

export function engineContext(config: SiteConfig, libvirt: LibvirtNode, progress?: (l: string) => void): EngineContext {
  return {
    config,
    libvirt,
    domainType: 'test',
    renderTemplates: createRenderer(join(REPO, 'templates')),
    renderTemplatesVm: createRenderer(join(REPO, 'templates-vm')),
    userDataBase: loadUserDataBase(join(REPO, 'templates-vm')),
    log: { info: () => undefined, warn: () => undefined },
    ...(progress ? { progress } : {}),
  };
}

export function startInput(jobId: string, baseImage: string, request: Partial<VmRequest> = {}, nodes = [bigNode()]): LocalStartInput {
  return {
    job: { jobId, owner: { user: 'alice', uid: 1001, gid: 1001, group: 'alice' } },
    request: { ...baseRequest, ...request },
    nodes,
    baseImage,
    boot: null,
    guestEnv: { PBS_JOBID: jobId, PBS_JOBNAME: "a'b;$(id)" },
    uuid: randomUUID,
    // The default PROLOGUE_TIMEOUT's bound, from the moment the input is made.
    deadlineAt: Date.now() + 280_000,
  };
}

/** Everything a job could leave on the node: its domains, files under the spool, tmpfs mounts. */
export async function leftovers(libvirt: LibvirtNode, config: SiteConfig, jobId: string): Promise<string[]> {
  const domains = (await libvirt.listDomains()).map((d) => d.name).filter((n) => n.includes(jobId.replace(/[^A-Za-z0-9.-]+/g, '_')));
  let files: string[] = [];
  try {
    files = readdirSync(join(config.SPOOL_DIR, 'jobs'));
  } catch {
    files = [];
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(config.RAMDISK_DIR));
  return [...domains.map((d) => `domain ${d}`), ...files.map((f) => `file ${f}`), ...mounts.map((m) => `mount ${m}`)];
}
