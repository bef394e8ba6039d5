import type { SiteConfig } from '../config/index.js';
import { ValidationError, VtorqueError, type Issue } from '../errors.js';
import type { VmRequest } from './types.js';

/**
 * Why `-vm disk=` is refused unless QEMU_USER is owner: the file sits in the user's directories and
 * can be swapped after validation; with QEMU_USER libvirt, libvirt (root) would chown whatever the
 * path names by then to its qemu user. With job-uid libvirt chowns nothing, but qemu runs as a uid
 * of its own that cannot open the owner's file (and must not be given it). With owner libvirt
 * chowns nothing and qemu opens it as the owner.
 */
export function diskNeedsOwner(mode: Exclude<SiteConfig['QEMU_USER'], 'owner'>): string {
  return mode === 'job-uid'
    ? 'persistent disks (-vm disk=) need QEMU_USER: owner, and this site runs each job\'s qemu as a uid of its own that belongs to nobody (QEMU_USER: job-uid), which cannot open a disk the job owner owns'
    : 'persistent disks (-vm disk=) need QEMU_USER: owner, and this site runs qemu as libvirt\'s user (QEMU_USER: libvirt), where libvirt would chown, as root, whatever file the path names when the VM starts';
}

/** The QEMU_USER libvirt refusal (the default mode). */
export const DISK_NEEDS_OWNER = diskNeedsOwner('libvirt');

export interface PolicyResult {
  readonly request: VmRequest;
  readonly warnings: readonly string[];
}

/**
 * The admin's policy over a well-formed request. vsub calls it for early, friendly errors; the
 * root prologue calls it again on the frozen request, which is the check that counts.
 * `poolImages` lists the authorized image names in VM_IMG_DIR.
 */
export function applyPolicy(request: VmRequest, config: SiteConfig, poolImages: readonly string[], source = '-vm'): PolicyResult {
  const warnings: string[] = [];
  const issues: Issue[] = [];
  const r = { ...request };

  if (r.img.startsWith('/')) {
    if (!config.ALLOW_USER_IMAGES) {
      throw imageError(r.img, config, poolImages, 'images outside the pool are not allowed here (ALLOW_USER_IMAGES is false)');
    }
  } else if (!poolImages.includes(r.img)) {
    throw imageError(r.img, config, poolImages, `no such image in the authorized pool ${config.VM_IMG_DIR}`);
  }
  if (r.distro === 'osv') {
    issues.push({ source, key: 'distro', value: r.distro, expected: 'a Linux distro (debian, ubuntu, redhat, centos): OSv guests are not supported by this version' });
  }
  if (r.vms_per_node > config.MAX_VMS_PER_NODE) {
    issues.push({ source, key: 'vms_per_node', value: r.vms_per_node, expected: `at most MAX_VMS_PER_NODE = ${config.MAX_VMS_PER_NODE}` });
  }
  if (typeof r.vcpu_pinning === 'object') {
    const rows = r.vcpu_pinning.cpus;
    const all = rows.flat();
    if (rows.length < r.vms_per_node || rows.some((row) => row.length !== r.vcpus)) {
      issues.push({ source, key: 'vcpu_pinning', value: r.vcpu_pinning.path, expected: `a pinning file with ${r.vms_per_node} line(s) of ${r.vcpus} host CPU(s) each` });
    } else if (new Set(all.slice(0, r.vms_per_node * r.vcpus)).size !== r.vms_per_node * r.vcpus) {
      issues.push({ source, key: 'vcpu_pinning', value: r.vcpu_pinning.path, expected: 'a pinning file that uses each host CPU once' });
    }
  }
  if (r.disk !== null && config.QEMU_USER !== 'owner') {
    issues.push({ source, key: 'disk', value: r.disk, expected: `no disk: ${diskNeedsOwner(config.QEMU_USER)}` });
  } else if (r.disk !== null && !config.DISK_DIRS.some((dir) => isUnder(r.disk as string, dir))) {
    issues.push({ source, key: 'disk', value: r.disk, expected: `a file under one of DISK_DIRS: ${config.DISK_DIRS.join(', ') || '(none allowed)'}` });
  }
  if (r.metadata !== null) {
    const refused = Object.keys(r.metadata.data).filter((k) => !config.METADATA_ALLOWED_KEYS.includes(k));
    if (refused.length > 0) {
      issues.push({ source, key: 'metadata', value: r.metadata.path, expected: `cloud-config keys among METADATA_ALLOWED_KEYS = [${config.METADATA_ALLOWED_KEYS.join(', ')}]; refused: ${refused.join(', ')}` });
    }
  }

  if (r.iocm && !config.IOCM_ENABLED) {
    warnings.push('iocm=true ignored: IOcm is disabled on this cluster');
    r.iocm = false;
  }
  if (r.iocm) {
    if (r.iocm_min_cores > r.iocm_max_cores) {
      issues.push({ source, key: 'iocm_min_cores', value: r.iocm_min_cores, expected: `at most iocm_max_cores (${r.iocm_max_cores})` });
    }
    if (r.iocm_min_cores < config.IOCM_MIN_CORES || r.iocm_max_cores > config.IOCM_MAX_CORES) {
      issues.push({ source, key: 'iocm_max_cores', value: r.iocm_max_cores, expected: `IOcm cores within ${config.IOCM_MIN_CORES}..${config.IOCM_MAX_CORES}` });
    }
  }
  if (r.vrdma && !config.VRDMA_ENABLED) {
    warnings.push('vrdma=true ignored: vRDMA is disabled on this cluster');
    r.vrdma = false;
  }
  if (r.unclot && (!config.UNCLOT_ENABLED || r.distro !== 'osv')) {
    warnings.push('unclot=true ignored: UNCLOT is available for OSv guests only, and only where enabled');
    r.unclot = false;
  }
  if (issues.length > 0) throw new ValidationError('REQUEST_INVALID', issues, { fault: 'job' });
  return { request: r, warnings };
}

function imageError(img: string, config: SiteConfig, pool: readonly string[], why: string): VtorqueError {
  const list = pool.length > 0 ? pool.join(', ') : '(the pool is empty)';
  return new VtorqueError('IMAGE_NOT_AUTHORIZED', `img = ${JSON.stringify(img)}: ${why}; available images in ${config.VM_IMG_DIR}: ${list}`, { fault: 'job' });
}

function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return path.startsWith(d) && !path.split('/').includes('..');
}
