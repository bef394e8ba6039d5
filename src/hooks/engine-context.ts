import { join } from 'node:path';
import type { SiteConfig } from '../core/config/schema.js';
import type { AppLayout } from '../core/install/paths.js';
import { kvmGroupGid } from '../core/node/ids.js';
import { createRenderer } from '../core/render/index.js';
import { domainType, openLibvirt, type EngineContext, type EngineLog } from '../engine/index.js';
import { loadUserDataBase } from '../guest/index.js';
import { IMAGE_KERNEL_CMDLINE } from '../image/inputs.js';

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

/** Direct kernel boot files beside a pool image (`<img>.vmlinuz`, `<img>.initrd`), as `vtorque image build` makes them. */
export function bootFilesFor(imagePath: string, exists: (p: string) => boolean): { kernel: string; initrd: string; cmdline: string } | null {
  const kernel = `${imagePath}.vmlinuz`;
  const initrd = `${imagePath}.initrd`;
  return exists(kernel) && exists(initrd) ? { kernel, initrd, cmdline: IMAGE_KERNEL_CMDLINE } : null;
}

export function poolImagePath(config: SiteConfig, img: string): string {
  return img.startsWith('/') ? img : join(config.VM_IMG_DIR, img);
}
