import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseUidRange, type SiteConfig } from '../../core/config/index.js';
import { findExecutable } from '../../core/exec/which.js';
import { displayValue, VtorqueError } from '../../core/errors.js';
import { appLayout, type AppLayout } from '../../core/install/paths.js';
import { formatSelfCheck, selfCheck } from '../../core/install/self-check.js';
import { hostCapacity } from '../../core/node/capacity.js';
import { kvmGroupGid, listIds, type IdEntry } from '../../core/node/ids.js';
import { bootFilePaths, listPoolImages } from '../../core/pool/images.js';
import { isTestUri, openLibvirt, qemuUserText } from '../../engine/index.js';
import { probeNodeAgents } from '../../lifecycle/index.js';
import { torqueHookLimit } from '../../torque/mom-config.js';
import { checkSlurmSettings, parseShowConfig, runShowConfig, slurmHookSettings, type HookFs } from '../../slurm/slurm-config.js';

const TOOLS: readonly [string, string][] = [
  ['qemu-img', 'qemu-utils'],
  ['genisoimage', 'genisoimage'],
  ['ssh-keygen', 'openssh-client'],
  ['virsh', 'libvirt-clients'],
  ['ip', 'iproute2'],
  ['getent', 'libc-bin'],
];

/** How long `vtorque doctor --nodes` waits for each node's agent (ssh, the agent's start, its hello). */
export const AGENT_PROBE_SECONDS = 20;

/** How long `vtorque doctor --slurm` waits for `scontrol show config` (it retries an unreadable slurm.conf for 60 s). */
export const SHOW_CONFIG_SECONDS = 20;

/**
 * `vtorque doctor`: is this node fit to run VM jobs? Every problem with its fix; exit 1 if any.
 * With `nodes` (`--nodes n2,n3`), also whether this node, as the head of a multi-node job, reaches
 * each of them through its node agent (NODE_AGENT_COMMAND). With `slurm` (`--slurm`), also whether
 * slurmd runs this install's Slurm hooks as they need (slurmHookProblems).
 */
export async function runDoctor(configOption: string | undefined, fromUrl: string, out: (s: string) => void, nodes?: string, slurmFlag = false): Promise<number> {
  const nodeNames = nodes === undefined ? [] : parseNodeList(nodes);
  // An install made with setup --slurm is a Slurm node's whether or not --slurm is given.
  const slurm = slurmFlag || existsSync(slurmHookPaths(appLayout(fromUrl)).prolog);
  const problems: string[] = [];
  let loaded;
  try {
    // A Slurm node's hooks keep to PrologEpilogTimeout (checked below), not to a pbs_mom's $prologalarm.
    loaded = loadConfig({ path: configOption, env: process.env, node: hostCapacity(), ...(slurm ? {} : { hookLimit: torqueHookLimit }) });
    out(`config ${loaded.path}: ${loaded.fromFile ? 'valid, and its VM defaults fit this node' : 'absent, built-in defaults apply'}\n`);
  } catch (err) {
    problems.push(`config: ${err instanceof Error ? err.message : String(err)}`);
  }
  problems.push(...formatSelfCheck(selfCheck(appLayout(fromUrl), loaded?.fromFile ? loaded.path : null)));
  for (const [tool, pkg] of TOOLS) if (!findExecutable(tool)) problems.push(`${tool} is missing; fix: apt-get install ${pkg}`);
  if (loaded) {
    problems.push(...(await qemuUserProblemsHere(loaded.config)));
    try {
      const libvirt = await openLibvirt(loaded.config.LIBVIRT_URI, { attempts: 1 });
      await libvirt.listDomains();
      await libvirt.close();
      out(`libvirt ${loaded.config.LIBVIRT_URI}: answering\n`);
    } catch (err) {
      problems.push(`libvirt ${loaded.config.LIBVIRT_URI} does not answer: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    }
    if (nodeNames.length > 0) problems.push(...(await nodeAgentProblems(loaded.config, appLayout(fromUrl), nodeNames, out)));
    if (slurm) problems.push(...(await slurmHookProblems(loaded.config, appLayout(fromUrl), out)));
  } else {
    if (nodeNames.length > 0) problems.push(`node agents of ${nodeNames.join(', ')}: not checked, NODE_AGENT_COMMAND comes from the config`);
    if (slurm) problems.push('slurm hooks: not checked, SLURM_SCONTROL, SLURM_CONF and the timeouts come from the config');
  }
  for (const p of problems) out(`problem: ${p}\n`);
  out(problems.length === 0 ? 'this node is ready for VM jobs\n' : `${problems.length} problem(s)\n`);
  return problems.length === 0 ? 0 : 1;
}

/** `--nodes n2,n3`: node names separated by commas, each once. */
export function parseNodeList(text: string): string[] {
  const names = text.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) {
    throw new VtorqueError('USAGE', `--nodes ${displayValue(text)}: expected node names separated by commas, e.g. --nodes n2,n3`, { exitCode: 2, fault: 'job' });
  }
  return [...new Set(names)];
}

/**
 * Each node's agent started as the head of a multi-node job starts it (bounded, in parallel): one
 * line for each node reached, a problem with its likely cause and fix for each that is not.
 */
export async function nodeAgentProblems(config: SiteConfig, layout: AppLayout, names: readonly string[], out: (s: string) => void, seconds = AGENT_PROBE_SECONDS): Promise<string[]> {
  const problems: string[] = [];
  for (const p of await probeNodeAgents(config, layout, names, seconds * 1000)) {
    if (!p.reached) {
      problems.push(`node agent ${p.node}: ${p.error}${p.hint === null ? '' : `; ${p.hint}`}`);
    } else if (p.calledItself !== null) {
      problems.push(`node agent ${p.node}: answers, but calls its node ${JSON.stringify(p.calledItself)}, and the head refuses a node that reports another name: give the agent the scheduler's name (NODE_AGENT_COMMAND's --name {node})`);
    } else {
      out(`node agent ${p.node}: reached (domain type ${p.domainType})\n`);
    }
  }
  return problems;
}

/** This install's Slurm hooks: what slurm.conf's Prolog and Epilog must name (or a glob must match). */
export function slurmHookPaths(layout: AppLayout): { readonly prolog: string; readonly epilog: string } {
  return { prolog: join(layout.root, 'hooks', 'slurm-prolog'), epilog: join(layout.root, 'hooks', 'slurm-epilog') };
}

/**
 * `--slurm`: slurmd's hook settings as `scontrol show config` reports them, checked against this
 * install's hooks and the config's timeouts. Prints what is fine and the warnings; returns the
 * failures as problems. `showConfig` and `fs` stand in for scontrol and the disk in tests.
 */
export async function slurmHookProblems(
  config: Pick<SiteConfig, 'SLURM_SCONTROL' | 'SLURM_CONF' | 'PROLOGUE_TIMEOUT' | 'TEARDOWN_TIMEOUT'>,
  layout: AppLayout,
  out: (s: string) => void,
  showConfig: () => Promise<string> = () => runShowConfig(config.SLURM_SCONTROL, config.SLURM_CONF, SHOW_CONFIG_SECONDS * 1000),
  fs?: HookFs,
): Promise<string[]> {
  let text: string;
  try {
    text = await showConfig();
  } catch (err) {
    return [`slurm: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`];
  }
  const map = parseShowConfig(text);
  if (map.size === 0) return [`slurm: ${config.SLURM_SCONTROL} show config printed no settings`];
  out(`slurm ${map.get('SLURM_VERSION') ?? '(version not shown)'}: configuration of ${map.get('SLURM_CONF') ?? 'slurmctld'} read\n`);
  const hooks = slurmHookPaths(layout);
  const expect = { prologPath: hooks.prolog, epilogPath: hooks.epilog, prologueTimeoutSeconds: config.PROLOGUE_TIMEOUT, teardownTimeoutSeconds: config.TEARDOWN_TIMEOUT };
  const problems: string[] = [];
  for (const f of checkSlurmSettings(slurmHookSettings(map), expect, fs)) {
    if (f.level === 'fail') problems.push(`slurm: ${f.message}`);
    else out(`${f.level === 'warn' ? 'warning: ' : ''}slurm: ${f.message}\n`);
  }
  return problems;
}

export type StatMode = (path: string) => { readonly mode: number; readonly isDirectory: boolean; readonly gid?: number } | null;

const statMode: StatMode = (path) => {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st ? { mode: st.mode, isDirectory: st.isDirectory(), gid: st.gid } : null;
};

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * With QEMU_USER owner or job-uid (qemu runs as a non-root uid that libvirt relabels nothing
 * for), what that qemu needs and may lack on this node: /dev/kvm usable when the guests would be
 * kvm (HYPERVISOR kvm, or auto with /dev/kvm present), the directories on the way to its VM files
 * traversable by others, the pool images (and their kernel/initrd) readable by others. For the
 * owner (any user) /dev/kvm must be world-rw; for job-uid group-rw for the kvm group (`kvmGid`,
 * qemu's gid) is enough. Nothing with QEMU_USER libvirt (libvirt relabels for its user).
 */
export function qemuUserProblems(
  config: Pick<SiteConfig, 'QEMU_USER' | 'HYPERVISOR' | 'LIBVIRT_URI' | 'SPOOL_DIR' | 'RAMDISK_DIR' | 'VM_IMG_DIR'>,
  stat: StatMode,
  kvmGid: number | null = null,
  kvmDevice = '/dev/kvm',
): string[] {
  if (config.QEMU_USER === 'libvirt') return [];
  const { runsAs, whose } = qemuUserText(config.QEMU_USER);
  const problems: string[] = [];
  const kvm = stat(kvmDevice);
  const kvmGuests = !isTestUri(config.LIBVIRT_URI) && (config.HYPERVISOR === 'kvm' || (config.HYPERVISOR === 'auto' && kvm !== null));
  if (kvmGuests && kvm !== null) {
    const worldRw = (kvm.mode & 0o006) === 0o006;
    if (config.QEMU_USER === 'owner' && !worldRw) {
      problems.push(`${runsAs} but ${kvmDevice} is mode ${octal(kvm.mode)}: make it 0666 (udev rule KERNEL=="kvm", MODE="0666") or set QEMU_USER: libvirt`);
    }
    if (config.QEMU_USER === 'job-uid' && !worldRw && !(kvmGid !== null && kvm.gid === kvmGid && (kvm.mode & 0o060) === 0o060)) {
      problems.push(
        kvmGid === null
          ? `${runsAs} but ${kvmDevice} is mode ${octal(kvm.mode)} and this node has no kvm group (qemu's gid is then its uid's number): create a kvm group and make ${kvmDevice} 0660 root:kvm (udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660"), or make it 0666, or set QEMU_USER: libvirt`
          : `${runsAs} but ${kvmDevice} is mode ${octal(kvm.mode)} with group ${kvm.gid ?? '?'}: make it group-rw for group kvm (gid ${kvmGid}; udev rule KERNEL=="kvm", GROUP="kvm", MODE="0660") or set QEMU_USER: libvirt`,
      );
    }
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
        problems.push(`${runsAs} but ${path} (on the way to ${key}) is mode ${octal(st.mode)}: ${whose} cannot reach its files; fix with: chmod o+x ${path}`);
      }
    }
  }
  for (const image of listPoolImages(config.VM_IMG_DIR)) {
    const path = join(config.VM_IMG_DIR, image.name);
    for (const file of [path, bootFilePaths(path).kernel, bootFilePaths(path).initrd]) {
      const st = stat(file);
      if (st !== null && (st.mode & 0o004) === 0) {
        problems.push(`${runsAs} but ${file} is mode ${octal(st.mode)}: ${whose} cannot read it; fix with: chmod 0444 ${file}`);
      }
    }
  }
  return problems;
}

/**
 * QEMU_USER job-uid: the real users whose uid and the groups whose gid fall in QEMU_UIDS (the
 * first `max` of each, by id). A job's qemu must run as ids that belong to nobody.
 */
export function qemuUidOverlapProblems(range: string, users: readonly IdEntry[], groups: readonly IdEntry[], max = 5): string[] {
  const r = parseUidRange(range);
  if (!r) return [];
  const problems: string[] = [];
  for (const [what, entries] of [['uid', users], ['gid', groups]] as const) {
    const inRange = entries.filter((e) => e.id >= r.start && e.id <= r.end).sort((a, b) => a.id - b.id || a.name.localeCompare(b.name));
    if (inRange.length === 0) continue;
    const shown = inRange.slice(0, max).map((e) => `${e.id} (${e.name})`).join(', ');
    const more = inRange.length > max ? ` and ${inRange.length - max} more` : '';
    problems.push(
      `QEMU_UIDS ${r.start}-${r.end} overlaps the ${what === 'uid' ? 'user' : 'group'} database: ${what} ${shown}${more}; each job's qemu must run as ids that belong to nobody (QEMU_USER: job-uid): choose a QEMU_UIDS range that no user's uid and no group's gid falls in`,
    );
  }
  return problems;
}

/** The problems `qemuUserProblems` and, for job-uid, `qemuUidOverlapProblems` find on this node. */
async function qemuUserProblemsHere(config: SiteConfig): Promise<string[]> {
  if (config.QEMU_USER !== 'job-uid') return qemuUserProblems(config, statMode);
  try {
    const [users, groups, kvmGid] = await Promise.all([listIds('passwd'), listIds('group'), kvmGroupGid()]);
    return [...qemuUidOverlapProblems(config.QEMU_UIDS, users, groups), ...qemuUserProblems(config, statMode, kvmGid)];
  } catch (err) {
    return [`QEMU_USER job-uid: cannot read the user and group databases to check QEMU_UIDS: ${err instanceof Error ? err.message : String(err)}`, ...qemuUserProblems(config, statMode)];
  }
}
