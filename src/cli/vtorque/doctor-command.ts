import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../core/config/index.js';
import type { SiteConfig } from '../../core/config/schema.js';
import { findExecutable } from '../../core/exec/which.js';
import { appLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { hostCapacity } from '../../core/node/capacity.js';
import { listPoolImages } from '../../core/pool/images.js';
import { openLibvirt } from '../../engine/index.js';
import { isTestUri } from '../../engine/libvirt/index.js';

const TOOLS: readonly [string, string][] = [
  ['qemu-img', 'qemu-utils'],
  ['genisoimage', 'genisoimage'],
  ['ssh-keygen', 'openssh-client'],
  ['virsh', 'libvirt-clients'],
  ['ip', 'iproute2'],
  ['getent', 'libc-bin'],
];

/** `vtorque doctor`: is this node fit to run VM jobs? Every problem with its fix; exit 1 if any. */
export async function runDoctor(configOption: string | undefined, fromUrl: string, out: (s: string) => void): Promise<number> {
  const problems: string[] = [];
  let loaded;
  try {
    loaded = loadConfig({ path: configOption, env: process.env, node: hostCapacity() });
    out(`config ${loaded.path}: ${loaded.fromFile ? 'valid, and its VM defaults fit this node' : 'absent, built-in defaults apply'}\n`);
  } catch (err) {
    problems.push(`config: ${err instanceof Error ? err.message : String(err)}`);
  }
  problems.push(...formatSelfCheck(selfCheck(appLayout(fromUrl), loaded?.fromFile ? loaded.path : null)));
  for (const [tool, pkg] of TOOLS) if (!findExecutable(tool)) problems.push(`${tool} is missing; fix: apt-get install ${pkg}`);
  if (loaded) {
    problems.push(...qemuOwnerProblems(loaded.config, statMode));
    try {
      const libvirt = await openLibvirt(loaded.config.LIBVIRT_URI, { attempts: 1 });
      await libvirt.listDomains();
      await libvirt.close();
      out(`libvirt ${loaded.config.LIBVIRT_URI}: answering\n`);
    } catch (err) {
      problems.push(`libvirt ${loaded.config.LIBVIRT_URI} does not answer: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
  }
  for (const p of problems) out(`problem: ${p}\n`);
  out(problems.length === 0 ? 'this node is ready for VM jobs\n' : `${problems.length} problem(s)\n`);
  return problems.length === 0 ? 0 : 1;
}

export type StatMode = (path: string) => { readonly mode: number; readonly isDirectory: boolean } | null;

const statMode: StatMode = (path) => {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st ? { mode: st.mode, isDirectory: st.isDirectory() } : null;
};

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');
const OWNER_QEMU = 'qemu runs as the job owner (QEMU_USER: owner)';

/**
 * With QEMU_USER owner, what the job owner's qemu needs and may lack on this node: /dev/kvm usable
 * by others when the guests would be kvm (HYPERVISOR kvm, or auto with /dev/kvm present), the
 * directories on the way to its VM files traversable by others, the pool images (and their
 * kernel/initrd) readable by others. Nothing with QEMU_USER libvirt (libvirt relabels for its user).
 */
export function qemuOwnerProblems(
  config: Pick<SiteConfig, 'QEMU_USER' | 'HYPERVISOR' | 'LIBVIRT_URI' | 'SPOOL_DIR' | 'RAMDISK_DIR' | 'VM_IMG_DIR'>,
  stat: StatMode,
  kvmDevice = '/dev/kvm',
): string[] {
  if (config.QEMU_USER !== 'owner') return [];
  const problems: string[] = [];
  const kvm = stat(kvmDevice);
  const kvmGuests = !isTestUri(config.LIBVIRT_URI) && (config.HYPERVISOR === 'kvm' || (config.HYPERVISOR === 'auto' && kvm !== null));
  if (kvmGuests && kvm !== null && (kvm.mode & 0o006) !== 0o006) {
    problems.push(`${OWNER_QEMU} but ${kvmDevice} is mode ${octal(kvm.mode)}: make it 0666 (udev rule KERNEL=="kvm", MODE="0666") or set QEMU_USER: libvirt`);
  }
  const seen = new Set<string>();
  for (const [key, dir] of [['SPOOL_DIR', config.SPOOL_DIR], ['RAMDISK_DIR', config.RAMDISK_DIR], ['VM_IMG_DIR', config.VM_IMG_DIR]] as const) {
    let path = '';
    for (const el of ['', ...dir.split('/').filter((e) => e !== '')]) {
      path = el === '' ? '/' : join(path, el);
      const st = stat(path);
      if (st === null || !st.isDirectory) break;
      if ((st.mode & 0o001) === 0 && !seen.has(path)) {
        seen.add(path);
        problems.push(`${OWNER_QEMU} but ${path} (on the way to ${key}) is mode ${octal(st.mode)}: the owner's qemu cannot reach its files; fix with: chmod o+x ${path}`);
      }
    }
  }
  for (const image of listPoolImages(config.VM_IMG_DIR)) {
    for (const file of [image.name, `${image.name}.vmlinuz`, `${image.name}.initrd`].map((n) => join(config.VM_IMG_DIR, n))) {
      const st = stat(file);
      if (st !== null && (st.mode & 0o004) === 0) {
        problems.push(`${OWNER_QEMU} but ${file} is mode ${octal(st.mode)}: the owner's qemu cannot read it; fix with: chmod 0444 ${file}`);
      }
    }
  }
  return problems;
}
