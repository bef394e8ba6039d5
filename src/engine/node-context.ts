import type { SiteConfig } from '../core/config/index.js';
import type { AppLayout } from '../core/install/paths.js';
import { UnsafePathError, VtorqueError } from '../core/errors.js';
import { lstatNoFollow, openNoFollow, readFileNoFollow } from '../core/fs/index.js';
import { kvmGroupGid } from '../core/node/ids.js';
import { createRenderer } from '../core/render/index.js';
import { domainType, openLibvirt, type EngineLog } from './libvirt/index.js';
import type { EngineContext } from './context.js';
import { qemuUserText } from './qemu-identity.js';
import { bootFilePaths, inImagePool } from '../core/pool/images.js';
import { loadUserDataBase } from '../guest/index.js';
import { CMDLINE_MAX, DIRECT_BOOT_CMDLINE, hasSeedCapability } from '../core/contract/guest-seed.v1.js';

/**
 * The engine, wired for this node: libvirt at LIBVIRT_URI, templates from the root-owned install,
 * and for QEMU_USER job-uid the kvm group's id (qemu's gid), looked up once here.
 */
export async function nodeEngine(config: SiteConfig, layout: AppLayout, log: EngineLog, progress: (line: string) => void): Promise<EngineContext> {
  // Not fatal here (the epilogue and gc need no gid to tear down): a start looks it up again.
  const kvmGid =
    config.QEMU_USER !== 'job-uid'
      ? null
      : await kvmGroupGid().catch((err: unknown) => {
          log.warn({ err: String(err) }, 'cannot look up the kvm group (QEMU_USER job-uid); a job start will try again');
          return undefined;
        });
  const libvirt = await openLibvirt(config.LIBVIRT_URI, { log });
  const type = await domainType(config.HYPERVISOR, config.LIBVIRT_URI, { spoolDir: config.SPOOL_DIR, log });
  return {
    config,
    libvirt,
    domainType: type,
    renderTemplates: createRenderer(layout.templates),
    renderTemplatesVm: createRenderer(layout.templatesVm),
    userDataBase: loadUserDataBase(layout.templatesVm),
    log,
    progress,
    ...(kvmGid === undefined ? {} : { kvmGid }),
  };
}

export interface BootFiles {
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
  /** The image's command line carries SEED_CAPABILITY: it has vtorque-seed (reported; the engine reads the command line itself). */
  readonly seedCapable: boolean;
}

/**
 * Direct kernel boot files of a pool image: `<img>.vmlinuz` and `<img>.initrd` beside it in
 * VM_IMG_DIR, as `vtorque image build` and `vmgr add` make them; null (boot from the disk) when
 * either is absent. A user's image (ALLOW_USER_IMAGES, outside the pool) never boots a kernel:
 * nothing beside it is even looked at, since its `.vmlinuz` could name any file on the host. In the
 * pool each is checked the way pool images are opened (no symlink at any element, ancestors
 * root-owned and writable by nobody else): a regular file, not a symlink, owned by root and
 * writable by nobody else, and world-readable when qemu runs unprivileged (QEMU_USER job-uid or
 * owner). One that is not refuses the start: the pool is the admin's, so a node fault naming the fix.
 */
export function bootFilesFor(config: SiteConfig, imagePath: string, log?: EngineLog): BootFiles | null {
  if (!inImagePool(config.VM_IMG_DIR, imagePath)) {
    log?.info({ image: imagePath }, 'a user image boots from its own disk; files beside it are not used');
    return null;
  }
  const { kernel, initrd, cmdline: cmdlineFile } = bootFilePaths(imagePath);
  if (!poolEntryExists(kernel) || !poolEntryExists(initrd)) return null;
  for (const path of [kernel, initrd]) checkPoolBootFile(path, config, kernel, initrd);
  // The image's own command line (`vtorque image build` writes it, `vmgr add` copies it), checked
  // like the kernel; without one, the default.
  let cmdline = DIRECT_BOOT_CMDLINE;
  if (poolEntryExists(cmdlineFile)) {
    checkPoolBootFile(cmdlineFile, config, kernel, initrd);
    cmdline = readCmdline(cmdlineFile);
  }
  const seedCapable = hasSeedCapability(cmdline);
  log?.info({ kernel, initrd, cmdline, seedCapable }, 'direct kernel boot from the pool');
  return { kernel, initrd, cmdline, seedCapable };
}

/** One line of printable ASCII, bounded: what goes into the domain XML as the kernel command line. */
function readCmdline(path: string): string {
  const fix = `write the kernel command line there (vtorque image build writes one), or remove it for the default "${DIRECT_BOOT_CMDLINE}"`;
  let text: string;
  try {
    text = readFileNoFollow(path, CMDLINE_MAX + 1).replace(/\n$/, '');
  } catch (err) {
    throw bootRefusal(path, `is refused: ${(err as Error).message}`, fix, err);
  }
  if (text.length > CMDLINE_MAX || !/^[\x20-\x7e]*$/.test(text) || text.trim() === '') {
    throw bootRefusal(path, `is refused: not one line of printable ASCII of at most ${CMDLINE_MAX} characters`, fix);
  }
  return text.trim();
}

function bootRefusal(path: string, why: string, fix: string, cause?: unknown): VtorqueError {
  return new VtorqueError('CONFIG_INVALID', `direct kernel boot file ${path} ${why}; ${fix}`, { fault: 'node', ...(cause === undefined ? {} : { cause }) });
}

/** lstat through root-owned directories only (a symlink counts as present: it is then refused). */
function poolEntryExists(path: string): boolean {
  try {
    return lstatNoFollow(path, { trusted: true }) !== null;
  } catch (err) {
    if (err instanceof UnsafePathError) throw bootRefusal(path, `is not in a trusted pool: ${err.message}`, 'VM_IMG_DIR and the directories above it must be root-owned and writable by nobody else', err);
    throw err;
  }
}

function checkPoolBootFile(path: string, config: SiteConfig, kernel: string, initrd: string): void {
  const replace = `replace it with a regular root-owned file (vmgr add copies one in, 0444), or remove ${kernel} and ${initrd} to boot the image from its disk`;
  let file;
  try {
    file = openNoFollow(path, { trusted: true });
  } catch (err) {
    if (err instanceof UnsafePathError) throw bootRefusal(path, `is refused: ${err.message}`, replace, err);
    throw err;
  }
  try {
    const { uid, mode } = file.stat;
    const text = (mode & 0o7777).toString(8).padStart(4, '0');
    if (uid !== 0) {
      const relabel = config.QEMU_USER === 'libvirt' ? ' (QEMU_USER libvirt chowns a running VM\'s kernel to its qemu user; QEMU_USER job-uid never does)' : '';
      throw bootRefusal(path, `is owned by uid ${uid}, not root${relabel}`, `fix with: chown root:root ${path}`);
    }
    if ((mode & 0o022) !== 0) throw bootRefusal(path, `is writable by group or others (mode ${text})`, `fix with: chmod 0444 ${path}`);
    if (config.QEMU_USER !== 'libvirt' && (mode & 0o004) === 0) {
      throw bootRefusal(path, `is mode ${text}: ${qemuUserText(config.QEMU_USER).runsAs} and cannot read it`, `fix with: chmod 0444 ${path}`);
    }
  } finally {
    file.close();
  }
}

