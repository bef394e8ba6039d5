import { dirname, join } from 'node:path';
import { missingToolError } from '../../core/exec/which.js';
import { run } from '../../core/exec/run.js';
import { mkdirPrivate, removeTree, ROOT_OWNER, setOwnerMode, unlinkNoFollow, writeFileExclusive, type Owner } from '../../core/fs/index.js';
import { FAST_SEED_DIR, SEED_CAPABILITY, SEED_ON } from '../../core/contract/guest-seed.v1.js';
import { fastSeedManifest, type FastSeed } from '../../guest/index.js';
import { TIMEOUT_MS, TOOL_NAMES } from './tools.js';
import type { PrepareTools } from './types.js';

export interface SeedFiles {
  readonly userData: string;
  readonly metaData: string;
  readonly networkConfig: string;
  /** The `vtorque/` part for vtorque-seed (needs genisoimage: cloud-localds packs only the three files). */
  readonly fast?: FastSeed;
}

/**
 * The image's kernel command line for one VM: SEED_CAPABILITY becomes `vtorque.seed=on
 * cloud-init=disabled` when vtorque-seed starts it, and goes when cloud-init does.
 */
export function seedCmdline(cmdline: string, fastSeed: boolean): string {
  const words = cmdline.split(/\s+/).filter((w) => w !== '' && w !== SEED_CAPABILITY);
  return (fastSeed ? [...words, ...SEED_ON] : words).join(' ');
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
    if (files.fast) stageFastSeed(join(vmDir, FAST_SEED_DIR), files.fast);
    const opts = { cwd: vmDir, timeoutMs: TIMEOUT_MS.short };
    if (tools.genisoimage !== null) {
      // A directory given as is would have its contents put at the ISO's root: graft it at vtorque/.
      const fast = files.fast ? ['-graft-points', ...NAMES.map((n) => `${n}=${n}`), `${FAST_SEED_DIR}/=${FAST_SEED_DIR}`] : NAMES;
      await run(tools.genisoimage, ['-quiet', '-output', seedIso, '-volid', 'cidata', '-joliet', '-rock', ...fast], opts);
    } else if (files.fast) {
      throw missingToolError([TOOL_NAMES.genisoimage], 'the seed of an image started by vtorque-seed');
    } else if (tools.cloudLocalds !== null) {
      await run(tools.cloudLocalds, ['--network-config=network-config', seedIso, 'user-data', 'meta-data'], opts);
    } else {
      throw missingToolError([TOOL_NAMES.genisoimage, TOOL_NAMES.cloudLocalds], 'the cloud-init seed ISO', 'oneOf');
    }
    if (qemu) setOwnerMode(seedIso, qemu, 0o400);
    else setOwnerMode(seedIso, ROOT_OWNER, 0o600);
  } finally {
    for (const name of NAMES) unlinkNoFollow(join(vmDir, name));
    removeTree(join(vmDir, FAST_SEED_DIR));
  }
}

/**
 * `vtorque/seed.conf`, `files`, `fstab` and `root/<path>` in the (root-only) VM directory, for
 * genisoimage: root's files, 0600, read only by the ISO build (the guest installs them with the
 * modes the manifest gives).
 */
function stageFastSeed(dir: string, seed: FastSeed): void {
  mkdirPrivate(dir, 0o700);
  writeFileExclusive(join(dir, 'seed.conf'), seed.conf, 0o600);
  writeFileExclusive(join(dir, 'files'), fastSeedManifest(seed), 0o600);
  writeFileExclusive(join(dir, 'fstab'), seed.fstab, 0o600);
  for (const f of seed.files) {
    const target = join(dir, 'root', f.path);
    const parents: string[] = [];
    for (let d = dirname(target); d !== dir; d = dirname(d)) parents.unshift(d);
    for (const d of parents) mkdirPrivate(d, 0o700);
    writeFileExclusive(target, f.content, 0o600);
  }
}
