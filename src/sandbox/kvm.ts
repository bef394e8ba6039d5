import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../core/exec/run.js';

/** What the sandbox does with /dev/kvm inside its mount namespace. */
export type KvmMode = 'auto' | 'hide' | 'keep';

const KVM_DEV = '/dev/kvm';

/**
 * Whether to hide /dev/kvm from the sandbox's libvirtd. `auto` hides it when the QEMU user of that
 * libvirtd cannot open it read-write (here: /dev/kvm is root:root 0600 because no udev rule set it
 * up). libvirt then probes QEMU with KVM (as root) but finds KVM unusable when validating its
 * capability cache, so it re-probes QEMU on every lookup: `virsh version` and every domain start
 * cost 4-5 s more. Hidden, libvirt consistently sees TCG only and `type='kvm'` fails at once
 * instead of hanging.
 */
export async function kvmDecision(mode: KvmMode, etcDir: string): Promise<{ hide: boolean; reason: string }> {
  if (!existsSync(KVM_DEV)) return { hide: false, reason: `${KVM_DEV} does not exist` };
  if (mode !== 'auto') return { hide: mode === 'hide', reason: `kvm: ${mode}` };
  const { user, group } = qemuUser(join(etcDir, 'qemu.conf'));
  const res = await run(
    'setpriv',
    [`--reuid=${user}`, `--regid=${group}`, '--init-groups', '--', 'test', '-r', KVM_DEV, '-a', '-w', KVM_DEV],
    { timeoutMs: 10_000, reject: false },
  );
  return res.exitCode === 0
    ? { hide: false, reason: `${user} can open ${KVM_DEV}` }
    : { hide: true, reason: `${user}:${group} cannot open ${KVM_DEV}, so libvirt would re-probe QEMU on every call` };
}

/** The QEMU user and group from qemu.conf, with Debian's built-in defaults. */
export function qemuUser(qemuConf: string): { user: string; group: string } {
  let text = '';
  try {
    text = readFileSync(qemuConf, 'utf8');
  } catch {
    /* defaults */
  }
  const value = (key: string): string | undefined => new RegExp(`^\\s*${key}\\s*=\\s*"([^"\\n]+)"`, 'm').exec(text)?.[1];
  const clean = (v: string | undefined, fallback: string): string => (v !== undefined && /^\+?[A-Za-z0-9_.-]+$/.test(v) ? v.replace(/^\+/, '') : fallback);
  return { user: clean(value('user'), 'libvirt-qemu'), group: clean(value('group'), 'libvirt-qemu') };
}
