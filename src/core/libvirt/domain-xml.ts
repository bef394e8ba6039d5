import { VtorqueError, displayValue } from '../errors.js';
import { XML_INVALID_CHARS, type Renderer } from '../render/index.js';

/** Root-owned template in `templates-vm/` that buildDomainXml renders. */
export const DOMAIN_TEMPLATE = 'domain-linux.xml.hbs';
/** Namespace of our `<metadata>` child; teardown matches a domain to a job on it. */
export const OWNER_NAMESPACE = 'urn:x-vtorque:job:1';

export type DomainType = 'kvm' | 'qemu' | 'test';

export interface DomainOwner {
  readonly job: string;
  readonly user: string;
  readonly node: string;
  readonly index: number;
}

export type DomainNet =
  | { readonly kind: 'network'; readonly network: string; readonly mac: string }
  | { readonly kind: 'bridge'; readonly bridge: string; readonly mac: string };

/** One job VM, as plain data computed by the planner. Every string must be a single line. */
export interface DomainSpec {
  readonly name: string;
  readonly uuid: string;
  readonly type: DomainType;
  readonly memoryMiB: number;
  readonly vcpus: number;
  /** Empty = no `<vcpupin>`; `<cputune>` is written when there are pins or an emulator cpuset. */
  readonly vcpuPins: readonly { readonly vcpu: number; readonly cpuset: string }[];
  readonly emulatorCpuset?: string;
  /** `<numatune><memory mode='strict' nodeset=…/>`. */
  readonly numaNodeset?: string;
  readonly machine: string;
  readonly arch: 'x86_64';
  /** `<cpu mode='host-passthrough'>` (kvm guests: the host's CPU features); absent = libvirt's default model. */
  readonly cpuMode?: 'host-passthrough';
  /** Direct kernel boot, or null to boot from the first disk. */
  readonly boot: { readonly kernel: string; readonly initrd: string; readonly cmdline: string } | null;
  /** `backing`: the image's backing file, or null for none; written as `<backingStore>` either way. */
  readonly disks: readonly {
    readonly file: string;
    readonly format: 'qcow2' | 'raw';
    readonly target: string;
    readonly readonly: boolean;
    readonly backing: { readonly file: string; readonly format: 'qcow2' | 'raw' } | null;
  }[];
  readonly net: DomainNet;
  readonly consoleLog: string;
  /** TCG translation cache in MiB; used only when type is 'qemu' and the value is above 0. */
  readonly tcgTbCacheMiB: number;
  readonly virtiofs: readonly { readonly dir: string; readonly tag: string }[];
  readonly owner: DomainOwner;
  /**
   * qemu runs as this uid:gid (`<seclabel type='static' model='dac' relabel='no'>`): libvirt
   * chowns nothing, so every file qemu opens must already be readable (and the writable ones
   * writable) by it. null = qemu.conf's user, with libvirt relabelling the images.
   */
  readonly dac: { readonly uid: number; readonly gid: number } | null;
}

/** Largest uid/gid a DAC label may name: (uid_t)-1 is "no change" to chown, never an identity. */
export const MAX_DAC_ID = 2 ** 32 - 2;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CPUSET = /^\^?\d+(-\d+)?(,\^?\d+(-\d+)?)*$/;
const MAC = /^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/i;
const SIMPLE_NAME = /^[A-Za-z0-9._-]+$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function refuse(field: string, value: unknown, expected: string): never {
  throw new VtorqueError('INTERNAL', `domain spec ${field} = ${displayValue(value)}: expected ${expected}`, { fault: 'node' });
}

/**
 * One line of XML-safe text. Tab, CR and LF are refused too: XML attribute normalisation would
 * turn them into spaces, and libvirt refuses them in names, so they could only change meaning.
 */
function line(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') refuse(field, value, 'a non-empty string');
  if (XML_INVALID_CHARS.test(value) || LONE_SURROGATE.test(value) || /[\t\n\r]/.test(value)) {
    refuse(field, value, 'one line without control characters');
  }
  return value;
}

function path(field: string, value: unknown): string {
  const p = line(field, value);
  if (!p.startsWith('/') || p.split('/').includes('..')) refuse(field, value, 'an absolute path without ".."');
  return p;
}

function matching(field: string, value: unknown, re: RegExp, expected: string): string {
  if (!re.test(line(field, value))) refuse(field, value, expected);
  return value as string;
}

function integer(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) refuse(field, value, `an integer >= ${min}`);
  return value;
}

function dacId(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_DAC_ID) {
    refuse(field, value, `an integer from 0 to ${MAX_DAC_ID}`);
  }
  return value;
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) refuse(field, value, `one of ${allowed.join(', ')}`);
  return value as T;
}

/** Refuses (VtorqueError 'INTERNAL') any spec that is not exactly what the template expects. */
export function checkDomainSpec(spec: DomainSpec): void {
  const name = line('name', spec.name);
  if (name.includes('/')) refuse('name', name, 'a name without "/" (libvirt refuses it)');
  matching('uuid', spec.uuid, UUID, 'a UUID');
  oneOf('type', spec.type, ['kvm', 'qemu', 'test'] as const);
  oneOf('arch', spec.arch, ['x86_64'] as const);
  integer('memoryMiB', spec.memoryMiB, 1);
  integer('vcpus', spec.vcpus, 1);
  spec.vcpuPins.forEach((pin, i) => {
    if (integer(`vcpuPins[${i}].vcpu`, pin.vcpu, 0) >= spec.vcpus) refuse(`vcpuPins[${i}].vcpu`, pin.vcpu, `a vCPU below ${spec.vcpus}`);
    matching(`vcpuPins[${i}].cpuset`, pin.cpuset, CPUSET, 'a cpuset like 0-3,^2');
  });
  if (spec.emulatorCpuset !== undefined) matching('emulatorCpuset', spec.emulatorCpuset, CPUSET, 'a cpuset');
  if (spec.numaNodeset !== undefined) matching('numaNodeset', spec.numaNodeset, CPUSET, 'a nodeset');
  matching('machine', spec.machine, SIMPLE_NAME, 'a machine type like q35');
  if (spec.cpuMode !== undefined) oneOf('cpuMode', spec.cpuMode, ['host-passthrough'] as const);
  if (spec.boot !== null) {
    path('boot.kernel', spec.boot.kernel);
    path('boot.initrd', spec.boot.initrd);
    line('boot.cmdline', spec.boot.cmdline);
  }
  spec.disks.forEach((disk, i) => {
    path(`disks[${i}].file`, disk.file);
    oneOf(`disks[${i}].format`, disk.format, ['qcow2', 'raw'] as const);
    matching(`disks[${i}].target`, disk.target, /^vd[a-z]{1,2}$/, 'a virtio target like vda');
    if (typeof disk.readonly !== 'boolean') refuse(`disks[${i}].readonly`, disk.readonly, 'a boolean');
    if (disk.backing !== null) {
      if (typeof disk.backing !== 'object') refuse(`disks[${i}].backing`, disk.backing, 'null or { file, format }');
      path(`disks[${i}].backing.file`, disk.backing.file);
      oneOf(`disks[${i}].backing.format`, disk.backing.format, ['qcow2', 'raw'] as const);
    }
  });
  unique('disks target', spec.disks.map((d) => d.target));
  const net = spec.net;
  matching('net.mac', net.mac, MAC, 'a unicast MAC like 52:54:00:aa:00:01');
  if (net.kind === 'bridge') matching('net.bridge', net.bridge, /^[A-Za-z0-9_.-]{1,15}$/, 'a Linux interface name');
  else if (net.kind === 'network') matching('net.network', net.network, SIMPLE_NAME, 'a libvirt network name');
  else refuse('net.kind', (net as { kind: unknown }).kind, 'network or bridge');
  path('consoleLog', spec.consoleLog);
  integer('tcgTbCacheMiB', spec.tcgTbCacheMiB, 0);
  spec.virtiofs.forEach((fs, i) => {
    path(`virtiofs[${i}].dir`, fs.dir);
    matching(`virtiofs[${i}].tag`, fs.tag, /^[A-Za-z0-9._-]{1,36}$/, 'a mount tag of at most 36 characters');
  });
  unique('virtiofs tag', spec.virtiofs.map((fs) => fs.tag));
  line('owner.job', spec.owner.job);
  line('owner.user', spec.owner.user);
  line('owner.node', spec.owner.node);
  integer('owner.index', spec.owner.index, 0);
  if (spec.dac !== null) {
    if (typeof spec.dac !== 'object') refuse('dac', spec.dac, 'null or { uid, gid }');
    dacId('dac.uid', spec.dac.uid);
    dacId('dac.gid', spec.dac.gid);
  }
}

function unique(field: string, values: readonly string[]): void {
  const dup = values.find((v, i) => values.indexOf(v) !== i);
  if (dup !== undefined) refuse(field, dup, 'unique values');
}

/** The libvirt domain XML for one job VM, from the root-owned `templates-vm/domain-linux.xml.hbs`. */
export function buildDomainXml(spec: DomainSpec, renderer: Renderer): string {
  checkDomainSpec(spec);
  const net = spec.net;
  return renderer.render(DOMAIN_TEMPLATE, {
    ...spec,
    emulatorCpuset: spec.emulatorCpuset ?? null,
    numaNodeset: spec.numaNodeset ?? null,
    cpuMode: spec.cpuMode ?? null,
    cputune: spec.vcpuPins.length > 0 || spec.emulatorCpuset !== undefined,
    tbCacheMiB: spec.type === 'qemu' && spec.tcgTbCacheMiB > 0 ? spec.tcgTbCacheMiB : null,
    net: {
      kind: net.kind,
      mac: net.mac.toLowerCase(),
      bridge: net.kind === 'bridge' ? net.bridge : null,
      network: net.kind === 'network' ? net.network : null,
    },
  });
}
