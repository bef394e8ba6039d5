import { readlinkSync, rmSync, statSync } from 'node:fs';
import { run } from '../core/exec/run.js';
import { spawnBackground } from '../core/exec/spawn-background.js';
import { SandboxError } from './errors.js';
import { kvmDecision } from './kvm.js';
import { uriForLayout, type SandboxLayout } from './layout.js';
import { pidInNetns } from './netns.js';
import type { Sandbox } from './options.js';
import { pollUntil, programOf, sandboxDaemonPid } from './processes.js';
import { libvirtAnswers } from './virsh.js';

/** A clean environment for the daemons: nothing of the caller's leaks into libvirtd, dnsmasq or qemu. */
const DAEMON_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };
/** The holder only has to live while the binds are made and the daemons fork; it exits on its own. */
const HOLDER_SECONDS = '300';

export interface DaemonPids {
  readonly libvirtd: number | null;
  readonly virtlogd: number | null;
}

export function daemonPids(sb: Sandbox, layout: SandboxLayout): DaemonPids {
  return {
    libvirtd: sandboxDaemonPid(layout.libvirtdPidFile, 'libvirtd', sb.name),
    virtlogd: sandboxDaemonPid(layout.virtlogdPidFile, 'virtlogd', sb.name),
  };
}

/**
 * Start whichever of virtlogd and libvirtd is not running, inside netns `sb.name` and the
 * sandbox's private mount namespace. With neither running, that namespace is made fresh: a holder
 * process (`ip netns exec <ns> sleep`) gets a new mount namespace with /sys remounted for the
 * netns, the stateDir binds are mounted in it with nsenter, and the daemons are started there with
 * `-d` (they daemonise and write their pidfiles). With one running, the other joins its namespace.
 */
export async function startDaemons(sb: Sandbox, layout: SandboxLayout): Promise<DaemonPids> {
  const running = daemonPids(sb, layout);
  let holder: number | null = null;
  try {
    let anchor = running.libvirtd ?? running.virtlogd;
    if (anchor === null && sb.holderPid !== null) {
      // The caller's namespaces: bind once (a restarted libvirtd finds the binds already there).
      anchor = sb.holderPid;
      if (!pidInNetns(anchor, sb.name)) throw new SandboxError('up', 'USAGE', `holder pid ${anchor} is not a live process in netns ${sb.name}`, { fault: 'node' });
      if (!boundIn(anchor, layout)) {
        await bindStateDirs(anchor, layout, sb.log);
        await maybeHideKvm(sb, anchor, layout);
      }
    } else if (anchor === null) {
      holder = await startHolder(sb);
      await bindStateDirs(holder, layout, sb.log);
      await maybeHideKvm(sb, holder, layout);
      anchor = holder;
    }
    const virtlogd = running.virtlogd ?? (await startDaemon(sb, layout, anchor, 'virtlogd'));
    const libvirtd = running.libvirtd ?? (await startDaemon(sb, layout, anchor, 'libvirtd'));
    return { libvirtd, virtlogd };
  } finally {
    if (holder !== null) killQuietly(holder);
  }
}

async function startHolder(sb: Sandbox): Promise<number> {
  const child = await spawnBackground('ip', ['netns', 'exec', sb.name, 'sleep', HOLDER_SECONDS], DAEMON_ENV);
  const ownMountNs = readlinkSync('/proc/self/ns/mnt');
  const ready = await pollUntil(
    () => {
      if (programOf(child.pid) !== 'sleep' || !pidInNetns(child.pid, sb.name)) return false;
      return readlinkSync(`/proc/${child.pid}/ns/mnt`) !== ownMountNs;
    },
    10_000,
    20,
  );
  if (!ready) {
    killQuietly(child.pid);
    throw new SandboxError('up', 'COMMAND_FAILED', `ip netns exec ${sb.name} did not give a process in a new mount namespace within 10 s`, { fault: 'node' });
  }
  return child.pid;
}

/** Whether the state binds are in place in `pid`'s mount namespace: its view of each target is the source. */
function boundIn(pid: number, layout: SandboxLayout): boolean {
  return layout.binds.every(({ source, target }) => {
    try {
      const there = statSync(`/proc/${pid}/root${target}`);
      const here = statSync(source);
      return there.ino === here.ino && there.dev === here.dev;
    } catch {
      return false;
    }
  });
}

async function bindStateDirs(holder: number, layout: SandboxLayout, log: (line: string) => void): Promise<void> {
  for (const { source, target } of layout.binds) {
    await run('nsenter', ['-t', String(holder), '-m', '--', 'mount', '--bind', source, target], { timeoutMs: 10_000 });
  }
  log(`mount namespace ready: ${layout.binds.map((b) => `${b.target} <- ${b.source}`).join(', ')}`);
}

async function maybeHideKvm(sb: Sandbox, holder: number, layout: SandboxLayout): Promise<void> {
  const { hide, reason } = await kvmDecision(sb.kvm, layout.etcDir);
  if (!hide) return;
  // A char device, not a regular file: libvirt recreates /dev/kvm in each QEMU's private /dev with
  // the same type and numbers, and a regular file there breaks its mount juggling (EINVAL). 1:3 is
  // /dev/null's number, so nothing can reach KVM through it; mode 0000 keeps it unusable for the QEMU user.
  rmSync(layout.kvmMask, { force: true });
  await run('mknod', ['-m', '000', layout.kvmMask, 'c', '1', '3'], { timeoutMs: 10_000 });
  await run('nsenter', ['-t', String(holder), '-m', '--', 'mount', '--bind', layout.kvmMask, '/dev/kvm'], { timeoutMs: 10_000 });
  sb.log(`/dev/kvm hidden in the sandbox (${reason}); VMs use TCG, domain type 'qemu'`);
}

async function startDaemon(sb: Sandbox, layout: SandboxLayout, nsPid: number, program: 'libvirtd' | 'virtlogd'): Promise<number> {
  const [conf, pidFile, socket] =
    program === 'libvirtd'
      ? [layout.libvirtdConf, layout.libvirtdPidFile, layout.socket]
      : [layout.virtlogdConf, layout.virtlogdPidFile, layout.virtlogdSocket];
  rmSync(pidFile, { force: true });
  rmSync(socket, { force: true }); // stale from a killed daemon; nobody listens on it
  const started = performance.now();
  await run('nsenter', ['-t', String(nsPid), '-m', '-u', '-n', '--', program, '-d', '-f', conf, '-p', pidFile], {
    timeoutMs: 30_000,
    env: DAEMON_ENV,
  });
  const pid = await pollUntil(() => sandboxDaemonPid(pidFile, program, sb.name), sb.readyTimeoutMs, 100);
  if (pid === null) {
    throw new SandboxError('up', 'COMMAND_FAILED', `${program} did not write a live pid to ${pidFile} within ${sb.readyTimeoutMs} ms; see ${layout.logDir}/${program}.log`, { fault: 'node' });
  }
  if (program === 'libvirtd') {
    const uri = uriForLayout(layout);
    if (!(await pollUntil(() => libvirtAnswers(uri), sb.readyTimeoutMs, 250))) {
      throw new SandboxError('up', 'COMMAND_FAILED', `libvirtd (pid ${pid}) did not answer on ${uri} within ${sb.readyTimeoutMs} ms; see ${layout.logDir}/libvirtd.log`, { fault: 'node' });
    }
  }
  sb.log(`${program} started: pid ${pid} (${Math.round(performance.now() - started)} ms)`);
  return pid;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
