import { join } from 'node:path';
import type { Sandbox } from './options.js';

/**
 * Where a sandbox keeps its state. libvirtd and virtlogd run in a private mount namespace in which
 * each `binds[i].source` (under stateDir) is bind-mounted over the system path libvirt hard-codes
 * (`binds[i].target`), so their sockets, driver state, network definitions, dnsmasq files, logs
 * and caches never touch (or see) those of a site libvirtd. stateDir itself is not shadowed, so a
 * path below it means the same file inside and outside the sandbox.
 */
export interface SandboxLayout {
  readonly stateDir: string;
  readonly etcDir: string;
  readonly runDir: string;
  readonly libDir: string;
  readonly cacheDir: string;
  readonly logDir: string;
  readonly libvirtdConf: string;
  readonly virtlogdConf: string;
  readonly libvirtdPidFile: string;
  readonly virtlogdPidFile: string;
  /** libvirtd's read-write socket as seen from the root mount namespace. */
  readonly socket: string;
  readonly virtlogdSocket: string;
  readonly networkXml: string;
  /** A 0000 char device (1:3) bind-mounted over /dev/kvm when KVM is hidden from the sandbox. */
  readonly kvmMask: string;
  readonly binds: readonly { readonly source: string; readonly target: string }[];
}

export function sandboxLayout(sb: Pick<Sandbox, 'stateDir'>): SandboxLayout {
  const dir = (sub: string): string => join(sb.stateDir, sub);
  const etcDir = dir('etc');
  const runDir = dir('run');
  const libDir = dir('lib');
  const cacheDir = dir('cache');
  const logDir = dir('log');
  return {
    stateDir: sb.stateDir,
    etcDir,
    runDir,
    libDir,
    cacheDir,
    logDir,
    libvirtdConf: join(etcDir, 'libvirtd.conf'),
    virtlogdConf: join(etcDir, 'virtlogd.conf'),
    libvirtdPidFile: dir('libvirtd.pid'),
    virtlogdPidFile: dir('virtlogd.pid'),
    socket: join(runDir, 'libvirt-sock'),
    virtlogdSocket: join(runDir, 'virtlogd-sock'),
    networkXml: dir('network.xml'),
    kvmMask: dir('kvm-hidden'),
    binds: [
      { source: etcDir, target: '/etc/libvirt' },
      { source: runDir, target: '/run/libvirt' },
      { source: libDir, target: '/var/lib/libvirt' },
      { source: cacheDir, target: '/var/cache/libvirt' },
      { source: logDir, target: '/var/log/libvirt' },
    ],
  };
}

/** The libvirt URI clients in the root namespace use: the system QEMU driver through our socket. */
export function uriForLayout(layout: SandboxLayout): string {
  return `qemu:///system?socket=${layout.socket}`;
}
