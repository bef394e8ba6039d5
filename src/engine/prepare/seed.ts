import { join } from 'node:path';
import { missingToolError } from '../../core/exec/which.js';
import { run } from '../../core/exec/run.js';
import { ROOT_OWNER, setOwnerMode, unlinkNoFollow, writeFileExclusive, type Owner } from '../../core/fs/index.js';
import { TIMEOUT_MS, TOOL_NAMES } from './tools.js';
import type { PrepareTools } from './types.js';

export interface SeedFiles {
  readonly userData: string;
  readonly metaData: string;
  readonly networkConfig: string;
}

const NAMES = ['user-data', 'meta-data', 'network-config'] as const;

/**
 * The NoCloud seed (volume id `cidata`) for one VM: the three files are written root-only into
 * the VM directory, packed with genisoimage (cloud-localds when genisoimage is missing) run in
 * that directory, and deleted again whatever happened. The ISO ends root:root 0600 (libvirt
 * relabels it for QEMU), or `qemu`'s 0400 when qemu runs as another identity and libvirt chowns
 * nothing: the job owner (QEMU_USER owner: the owner can then read the seed, so it must hold no
 * site secret) or the job's own uid (QEMU_USER job-uid: the owner cannot).
 */
export async function buildSeedIso(vmDir: string, seedIso: string, files: SeedFiles, tools: PrepareTools, qemu: Owner | null): Promise<void> {
  const content = { 'user-data': files.userData, 'meta-data': files.metaData, 'network-config': files.networkConfig };
  try {
    for (const name of NAMES) writeFileExclusive(join(vmDir, name), content[name], 0o600);
    const opts = { cwd: vmDir, timeoutMs: TIMEOUT_MS.short };
    if (tools.genisoimage !== null) {
      await run(tools.genisoimage, ['-quiet', '-output', seedIso, '-volid', 'cidata', '-joliet', '-rock', ...NAMES], opts);
    } else if (tools.cloudLocalds !== null) {
      await run(tools.cloudLocalds, ['--network-config=network-config', seedIso, 'user-data', 'meta-data'], opts);
    } else {
      throw missingToolError([TOOL_NAMES.genisoimage, TOOL_NAMES.cloudLocalds], 'the cloud-init seed ISO', 'oneOf');
    }
    if (qemu) setOwnerMode(seedIso, qemu, 0o400);
    else setOwnerMode(seedIso, ROOT_OWNER, 0o600);
  } finally {
    for (const name of NAMES) unlinkNoFollow(join(vmDir, name));
  }
}
