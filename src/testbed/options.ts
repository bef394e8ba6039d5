import { ValidationError, type Issue } from '../core/errors.js';

/**
 * Options of `vtorque testbed up|down|status|exec`: a virtual cluster of `nodes` nodes on this
 * host. Every field has a default, so `{ nodes: 2 }` is a complete request.
 *
 * | field        | default                            | meaning                                              |
 * |--------------|------------------------------------|------------------------------------------------------|
 * | name         | 'vtqtb'                            | prefix of every namespace, node and link name        |
 * | nodes        | 2                                  | node count, 1-8; the first is the head (pbs_server)  |
 * | stateDir     | '/var/lib/vtorque/testbed/<name>'  | everything the testbed makes, removed by `down`      |
 * | subnet       | '10.215'                           | first two octets: nodes on .0.(10+i), node i's guests on .i.0/24 |
 * | torquePrefix | '/opt/torque-ref'                  | an installed Torque (bin/, sbin/)                    |
 * | torqueHome   | '/var/spool/torque-ref'            | the TORQUE_HOME compiled into that Torque: each node binds its own copy there |
 * | imageDir     | '/var/cache/vtorque/image'         | the guest image (`vtorque image build`), hard-linked into the pool |
 * | sourceRoot   | required for up                    | the vTorque tree whose dist/ `vtorque setup` installs on every node |
 * | scheduler    | 'torque'                           | 'torque': pbs_server/pbs_mom; 'slurm': slurmctld on the head, a slurmd on every node (Debian's slurm-wlm) |
 * | log          | no-op                              | one human-readable line per step                     |
 */
export interface TestbedOptions {
  readonly name?: string;
  readonly nodes?: number;
  readonly stateDir?: string;
  readonly subnet?: string;
  readonly torquePrefix?: string;
  readonly torqueHome?: string;
  readonly imageDir?: string;
  readonly sourceRoot?: string;
  readonly scheduler?: TestbedScheduler;
  readonly log?: (line: string) => void;
}

export const TESTBED_SCHEDULERS = ['torque', 'slurm'] as const;
export type TestbedScheduler = (typeof TESTBED_SCHEDULERS)[number];

/** One node: a network, mount and UTS namespace of its own, joined to the others by the hub's bridge. */
export interface TestbedNode {
  /** 1-based; node 1 is the head. */
  readonly index: number;
  /** Host name inside the node, its netns name, its Torque node name. */
  readonly name: string;
  /** Its address on the interconnect. */
  readonly address: string;
  /** The /24 its guests get from its libvirt network (first three octets). */
  readonly guestSubnet: string;
}

export interface Testbed {
  readonly name: string;
  readonly stateDir: string;
  readonly subnet: string;
  readonly torquePrefix: string;
  readonly torqueHome: string;
  readonly imageDir: string;
  readonly sourceRoot: string | null;
  readonly scheduler: TestbedScheduler;
  readonly log: (line: string) => void;
  readonly nodes: readonly TestbedNode[];
  /** The netns holding the interconnect bridge. */
  readonly hub: { readonly ns: string; readonly bridge: string };
  /** Each node's libvirt network and its bridge (inside the node's netns only). */
  readonly vmNetwork: { readonly name: string; readonly bridge: string };
}

export const TESTBED_DEFAULTS = {
  name: 'vtqtb',
  nodes: 2,
  stateRoot: '/var/lib/vtorque/testbed',
  subnet: '10.215',
  torquePrefix: '/opt/torque-ref',
  torqueHome: '/var/spool/torque-ref',
  imageDir: '/var/cache/vtorque/image',
} as const;

export const MAX_NODES = 8;
/** Short enough that `<name>-n8` and `<name>hub0` fit an interface name (15 characters). */
const NAME = /^[a-z][a-z0-9]{0,9}$/;
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const SUBNET = new RegExp(`^${OCTET}\\.${OCTET}$`);
/** The libvirt sandbox of a node keeps a socket at <stateDir>/nodes/<node>/libvirt/run/libvirt-sock (sun_path). */
const MAX_STATE_DIR = 60;

export function nodeName(name: string, index: number): string {
  return `${name}-n${index}`;
}

export function resolveTestbedOptions(opts: TestbedOptions = {}): Testbed {
  const name = opts.name ?? TESTBED_DEFAULTS.name;
  const count = opts.nodes ?? TESTBED_DEFAULTS.nodes;
  const subnet = opts.subnet ?? TESTBED_DEFAULTS.subnet;
  const tb: Testbed = {
    name,
    stateDir: (opts.stateDir ?? `${TESTBED_DEFAULTS.stateRoot}/${name}`).replace(/\/+$/, ''),
    subnet,
    torquePrefix: (opts.torquePrefix ?? TESTBED_DEFAULTS.torquePrefix).replace(/\/+$/, ''),
    torqueHome: (opts.torqueHome ?? TESTBED_DEFAULTS.torqueHome).replace(/\/+$/, ''),
    imageDir: (opts.imageDir ?? TESTBED_DEFAULTS.imageDir).replace(/\/+$/, ''),
    sourceRoot: opts.sourceRoot ?? null,
    scheduler: opts.scheduler ?? 'torque',
    log: opts.log ?? (() => undefined),
    nodes: Number.isInteger(count) && count >= 1 && count <= MAX_NODES
      ? Array.from({ length: count }, (_, i) => ({ index: i + 1, name: nodeName(name, i + 1), address: `${subnet}.0.${11 + i}`, guestSubnet: `${subnet}.${i + 1}` }))
      : [],
    hub: { ns: `${name}-hub`, bridge: `${name}hub0` },
    vmNetwork: { name: `${name}-net`, bridge: `${name}br0` },
  };
  const issues: Issue[] = [];
  const check = (ok: boolean, key: string, value: unknown, expected: string): void => {
    if (!ok) issues.push({ source: 'testbed', key, value, expected });
  };
  check(NAME.test(name), 'name', name, 'a-z first, then a-z 0-9, at most 10 characters');
  check(tb.nodes.length > 0, 'nodes', count, `an integer 1-${MAX_NODES}`);
  check(SUBNET.test(subnet), 'subnet', subnet, 'the first two octets of a /16, e.g. 10.215');
  check((TESTBED_SCHEDULERS as readonly string[]).includes(tb.scheduler), 'scheduler', tb.scheduler, TESTBED_SCHEDULERS.join(' or '));
  for (const [key, path] of [['stateDir', tb.stateDir], ['torquePrefix', tb.torquePrefix], ['torqueHome', tb.torqueHome], ['imageDir', tb.imageDir]] as const) {
    check(SAFE_PATH.test(path) && !path.split('/').includes('..') && path !== '/', key, path, 'an absolute path of A-Z a-z 0-9 . _ - /');
  }
  check(tb.stateDir.length <= MAX_STATE_DIR, 'stateDir', tb.stateDir, `at most ${MAX_STATE_DIR} characters (unix socket path limit)`);
  if (issues.length > 0) throw new ValidationError('USAGE', issues, { fault: 'job' });
  return tb;
}
