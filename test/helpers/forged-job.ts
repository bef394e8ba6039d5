import { join } from 'node:path';
import { encodeRequestLine, encodeScriptLine } from '../../src/core/contract/job-script.v1.js';
import type { VmRequest } from '../../src/core/request/types.js';

/**
 * A job script laid out as vsub and vsbatch write it (contract job-script v1), holding a request
 * they would never write: what a user submits with plain qsub or sbatch to get past their checks.
 * Its script only says it must not run.
 */
export function forgedJobScript(prefix: string, request: Partial<VmRequest>): string {
  const base: VmRequest = {
    version: 1, img: 'debian-12-x86_64.qcow2', distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 1024, vms_per_node: 1,
    vcpu_pinning: false, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
    vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
  };
  return `#!/bin/sh\n${encodeRequestLine({ ...base, ...request })}\n${encodeScriptLine('#!/bin/sh\necho "JOB must not run"\n')}\nexec ${process.execPath} ${join(prefix, 'lib', 'vtorque', 'dist', 'job-run.mjs')} "$@"\n`;
}
