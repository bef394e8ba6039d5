import { ValidationError, type Issue } from '../core/errors.js';
import type { KvmMode } from './kvm.js';

/**
 * Options of `vtorque sandbox up|down|status`. Every field has a default, so `{}` is a complete
 * request for the standard sandbox:
 *
 * | field            | default                              | meaning                                        |
 * |------------------|--------------------------------------|------------------------------------------------|
 * | name             | 'vtq'                                | network namespace name (`ip netns`)            |
 * | stateDir         | '/var/lib/vtorque/sandbox/<name>'    | configs, pidfiles, sockets, libvirt state, logs|
 * | network.name     | 'vtq-net'                            | isolated libvirt network (no `<forward>`)      |
 * | network.bridge   | 'vtqbr0'                             | its bridge; exists only inside the netns       |
 * | network.subnet   | '10.213.0'                           | the /24: host .1, DHCP .100-.199               |
 * | network.domain   | 'jobs.test'                          | DNS domain answered locally by dnsmasq         |
 * | network.hosts    | []                                   | fixed DHCP leases `{ mac, name, ip }`          |
 * | log              | no-op                                | receives one human-readable line per step      |
 * | readyTimeoutMs   | 60000                                | bound for each daemon to answer after start    |
 * | kvm              | 'auto'                               | hide /dev/kvm from the sandbox (see kvm.ts)    |
 * | deleteNetns      | false                                | `down` only: also `ip netns del <name>`        |
 * | network.forward  | 'none'                               | 'route': guests routed beyond the netns        |
 * | holderPid        | none                                 | a process whose namespaces the daemons join    |
 *
 * `holderPid` is for callers that keep a namespace of their own (the testbed's nodes: network,
 * mount and UTS namespace held by one process): the daemons are started in that process's
 * namespaces, the state binds are made there once, and the process is never signalled here.
 */
export interface SandboxOptions {
  readonly name?: string;
  readonly stateDir?: string;
  readonly network?: Partial<SandboxNetwork>;
  readonly log?: (line: string) => void;
  readonly readyTimeoutMs?: number;
  readonly kvm?: KvmMode;
  readonly deleteNetns?: boolean;
  readonly holderPid?: number;
}

export interface DhcpHost {
  readonly mac: string;
  readonly name: string;
  /** A full address inside the subnet, outside the dynamic range .100-.199. */
  readonly ip: string;
}

export interface SandboxNetwork {
  readonly name: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly domain: string;
  readonly hosts: readonly DhcpHost[];
  /** 'none': isolated (guests reach only the bridge); 'route': routed, no NAT (the netns routes onward). */
  readonly forward: 'none' | 'route';
}

/** Options after defaults and validation; the only shape the rest of the sandbox code accepts. */
export interface Sandbox {
  readonly name: string;
  readonly stateDir: string;
  readonly network: SandboxNetwork;
  readonly log: (line: string) => void;
  readonly readyTimeoutMs: number;
  readonly kvm: KvmMode;
  readonly deleteNetns: boolean;
  readonly holderPid: number | null;
}

export const SANDBOX_DEFAULTS = {
  name: 'vtq',
  stateRoot: '/var/lib/vtorque/sandbox',
  network: { name: 'vtq-net', bridge: 'vtqbr0', subnet: '10.213.0', domain: 'jobs.test', forward: 'none' },
  readyTimeoutMs: 60_000,
} as const;

/** Directories libvirt hard-codes in system mode; the sandbox shadows them, so stateDir may not live below them. */
export const SHADOWED_DIRS = ['/etc/libvirt', '/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt'] as const;

const NETNS_NAME = /^[a-z][a-z0-9_-]{0,30}$/;
const IFNAME = /^[a-z][a-z0-9_-]{0,14}$/;
const NET_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const SUBNET = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}$`);
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** The socket path `<stateDir>/run/libvirt-sock` must fit in sun_path (108 bytes with the NUL). */
const MAX_STATE_DIR = 107 - '/run/libvirt-sock'.length;

export function resolveSandboxOptions(opts: SandboxOptions = {}): Sandbox {
  const name = opts.name ?? SANDBOX_DEFAULTS.name;
  const net: SandboxNetwork = { ...SANDBOX_DEFAULTS.network, hosts: [] as readonly DhcpHost[], ...opts.network };
  const sandbox: Sandbox = {
    name,
    stateDir: (opts.stateDir ?? `${SANDBOX_DEFAULTS.stateRoot}/${name}`).replace(/\/+$/, ''),
    network: net,
    log: opts.log ?? (() => undefined),
    readyTimeoutMs: opts.readyTimeoutMs ?? SANDBOX_DEFAULTS.readyTimeoutMs,
    kvm: opts.kvm ?? 'auto',
    deleteNetns: opts.deleteNetns ?? false,
    holderPid: opts.holderPid ?? null,
  };
  const issues = sandboxIssues(sandbox);
  if (issues.length > 0) throw new ValidationError('USAGE', issues, { fault: 'job' });
  return sandbox;
}

function sandboxIssues(sb: Sandbox): Issue[] {
  const issues: Issue[] = [];
  const check = (ok: boolean, key: string, value: unknown, expected: string): void => {
    if (!ok) issues.push({ source: 'sandbox', key, value, expected });
  };
  check(NETNS_NAME.test(sb.name), 'name', sb.name, 'a netns name: a-z first, then a-z 0-9 _ -, at most 31 characters');
  check(SAFE_PATH.test(sb.stateDir) && !sb.stateDir.split('/').includes('..'), 'stateDir', sb.stateDir, 'an absolute path of A-Z a-z 0-9 . _ - /');
  check(sb.stateDir.length <= MAX_STATE_DIR, 'stateDir', sb.stateDir, `at most ${MAX_STATE_DIR} characters (unix socket path limit)`);
  check(!SHADOWED_DIRS.some((d) => sb.stateDir === d || sb.stateDir.startsWith(`${d}/`)), 'stateDir', sb.stateDir, `a path outside ${SHADOWED_DIRS.join(', ')}`);
  check(NET_NAME.test(sb.network.name) && sb.network.name !== 'default', 'network.name', sb.network.name, "a libvirt network name other than 'default'");
  check(IFNAME.test(sb.network.bridge), 'network.bridge', sb.network.bridge, 'an interface name: a-z first, at most 15 characters');
  check(SUBNET.test(sb.network.subnet), 'network.subnet', sb.network.subnet, 'the first three octets of a /24, e.g. 10.213.0');
  check(DNS_NAME.test(sb.network.domain), 'network.domain', sb.network.domain, 'a lower-case DNS domain');
  check(['none', 'route'].includes(sb.network.forward), 'network.forward', sb.network.forward, 'none or route');
  check(sb.holderPid === null || (Number.isInteger(sb.holderPid) && sb.holderPid > 1), 'holderPid', sb.holderPid, 'a process id above 1');
  check(['auto', 'hide', 'keep'].includes(sb.kvm), 'kvm', sb.kvm, 'auto, hide or keep');
  check(Number.isInteger(sb.readyTimeoutMs) && sb.readyTimeoutMs >= 1000, 'readyTimeoutMs', sb.readyTimeoutMs, 'an integer >= 1000');
  sb.network.hosts.forEach((h, i) => {
    const last = h.ip.startsWith(`${sb.network.subnet}.`) ? Number(h.ip.slice(sb.network.subnet.length + 1)) : NaN;
    check(MAC.test(h.mac), `network.hosts[${i}].mac`, h.mac, 'a lower-case MAC aa:bb:cc:dd:ee:ff');
    check(DNS_NAME.test(h.name) && !h.name.includes('.'), `network.hosts[${i}].name`, h.name, 'a host name');
    check(Number.isInteger(last) && last >= 2 && last <= 254 && (last < 100 || last > 199) && /^\d+$/.test(h.ip.slice(sb.network.subnet.length + 1)),
      `network.hosts[${i}].ip`, h.ip, `an address ${sb.network.subnet}.2-99 or .200-254`);
  });
  return issues;
}
