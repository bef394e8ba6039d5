import { loadConfig } from '../../core/config/index.js';
import { findExecutable } from '../../core/exec/which.js';
import { appLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { hostCapacity } from '../../core/node/capacity.js';
import { openLibvirt } from '../../engine/index.js';

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
