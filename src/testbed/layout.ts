import { join } from 'node:path';
import type { Testbed, TestbedNode } from './options.js';

/**
 * Where a testbed keeps its state. Every node's mount namespace binds its own directories over
 * the paths a real node would have at the same place on every node:
 *
 * | inside the node         | bound from                       | why                                        |
 * |-------------------------|----------------------------------|--------------------------------------------|
 * | /etc/hosts              | <stateDir>/hosts                 | node names resolve to interconnect addresses|
 * | <torqueHome>            | nodes/<node>/torque              | each pbs_mom its own TORQUE_HOME (and mom_priv) |
 * | <stateDir>/install      | nodes/<node>/install             | the same install path on every node, its own config |
 * | /tmp                    | nodes/<node>/tmp                 | trqauthd's socket and job scratch per node |
 * | /etc/libvirt, /run/libvirt, … | nodes/<node>/libvirt/…     | each node's own libvirtd (the sandbox's binds) |
 */
export interface TestbedLayout {
  readonly stateFile: string;
  readonly hostsFile: string;
  readonly sshDir: string;
  readonly clientKey: string;
  readonly knownHosts: string;
  readonly authorizedKeys: string;
  readonly poolDir: string;
  /** The install prefix, the same path on every node (a bind of the node's own directory). */
  readonly installDir: string;
  readonly configPath: string;
  readonly profileDir: string;
  node(n: TestbedNode): NodeLayout;
}

export interface NodeLayout {
  readonly dir: string;
  readonly holderPidFile: string;
  readonly libvirtStateDir: string;
  readonly torqueHome: string;
  readonly install: string;
  readonly tmp: string;
  readonly spool: string;
  readonly logDir: string;
  readonly ramdisk: string;
  readonly sshdConfig: string;
  readonly sshdHostKey: string;
  readonly sshdPidFile: string;
  /** What the node's mount namespace binds, target (inside) ← source. */
  readonly binds: readonly { readonly source: string; readonly target: string }[];
}

export function testbedLayout(tb: Testbed): TestbedLayout {
  const at = (...p: string[]): string => join(tb.stateDir, ...p);
  const installDir = at('install');
  return {
    stateFile: at('testbed.json'),
    hostsFile: at('hosts'),
    sshDir: at('ssh'),
    clientKey: at('ssh', 'id_ed25519'),
    knownHosts: at('ssh', 'known_hosts'),
    authorizedKeys: at('ssh', 'authorized_keys'),
    poolDir: at('pool'),
    installDir,
    configPath: join(installDir, 'etc', 'config.yaml'),
    profileDir: join(installDir, 'profile.d'),
    node(n) {
      const dir = at('nodes', n.name);
      const torqueHome = join(dir, 'torque');
      const install = join(dir, 'install');
      const tmp = join(dir, 'tmp');
      return {
        dir,
        holderPidFile: join(dir, 'holder.pid'),
        libvirtStateDir: join(dir, 'libvirt'),
        torqueHome,
        install,
        tmp,
        spool: join(dir, 'spool'),
        logDir: join(dir, 'log'),
        ramdisk: join(dir, 'ramdisk'),
        sshdConfig: join(dir, 'sshd', 'sshd_config'),
        sshdHostKey: join(dir, 'sshd', 'ssh_host_ed25519_key'),
        sshdPidFile: join(dir, 'sshd', 'sshd.pid'),
        binds: [
          { source: at('hosts'), target: '/etc/hosts' },
          ...(tb.scheduler === 'torque' ? [{ source: torqueHome, target: tb.torqueHome }] : []),
          { source: install, target: installDir },
          { source: tmp, target: '/tmp' },
        ],
      };
    },
  };
}

/** /etc/hosts inside every node: localhost, then each node's interconnect address and name. */
export function renderHosts(tb: Testbed): string {
  return ['127.0.0.1 localhost', '::1 localhost', ...tb.nodes.map((n) => `${n.address} ${n.name}`), ''].join('\n');
}
