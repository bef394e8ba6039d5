import type { SiteConfig } from '../../core/config/index.js';
import { listPoolImages } from '../../core/pool/images.js';
import { applyPolicy, buildRequest, eligibleUserMetadata, parseVmSpecs, type VmRequest, type VmSpecs } from '../../core/request/index.js';
import { isTrue, readUserFile } from './files.js';

export interface SubmittedRequest {
  readonly request: VmRequest;
  /** One line each: a key the command line takes over from the script, a policy's adjustment. */
  readonly warnings: readonly string[];
}

/**
 * The VM request of a submission, as every submit command (vsub, vsbatch) builds it: the keys of
 * the script and the command line, values, files read as the user, defaults, and the site policy
 * (which the root side applies again to the frozen request).
 */
export function submittedRequest(specs: VmSpecs, config: SiteConfig, env: NodeJS.ProcessEnv, cwd: string): SubmittedRequest {
  const raw = parseVmSpecs(specs);
  const pool = listPoolImages(config.VM_IMG_DIR).map((i) => i.name);
  const built = buildRequest(raw.entries, config, { cwd, readFile: readUserFile, poolImages: pool }, {
    debug: isTrue(env.DEBUG),
    trace: isTrue(env.TRACE),
  });
  const { request, warnings } = applyPolicy(built.request, config, pool);
  // The prologue re-checks the values of the eligible cloud-config keys: refuse bad ones here already.
  if (request.metadata) eligibleUserMetadata(request.metadata.data);
  return { request, warnings: [...raw.warnings, ...warnings] };
}

/** What every node of a VM job must give it: its VMs' vCPUs and RAM, the host's share, IOcm cores. */
export function needPerNode(request: VmRequest, config: SiteConfig): { cpus: number; memMiB: number } {
  return {
    cpus: request.vcpus * request.vms_per_node + config.HOST_OS_CORE_COUNT + (request.iocm ? request.iocm_max_cores : 0),
    memMiB: request.ram * request.vms_per_node + config.HOST_OS_RAM_MB,
  };
}

