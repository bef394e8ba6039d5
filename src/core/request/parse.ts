import yaml from 'js-yaml';
import { isAbsolute, resolve } from 'node:path';
import type { SiteConfig } from '../config/index.js';
import { displayValue, ValidationError, VtorqueError, type Issue } from '../errors.js';
import { REQUEST_KEYS, type EmbeddedFile, type PinningMap, type RequestKey, type UserMetadata, type VmRequest } from './types.js';
import { parseMiBWithin } from '../size/index.js';
import {
  ACCEPTED,
  IMAGE_NAME,
  LIMITS,
  REQUEST_DEFAULTS as DEFAULTS,
  distroFromImageName,
  parseDistro,
  parseFsType,
  parseInteger,
  parsePinningText,
  parseRequestBool,
} from './values.js';

/** One `-vm key=value[,key=value]` argument and where it came from (for messages). */
export interface VmSpec {
  readonly text: string;
  readonly source: string;
}

export interface RawEntry {
  readonly value: string;
  readonly source: string;
}

/** The -vm arguments of one submission: the script's `#PBS -vm` directives and the command line's `-vm` options. */
export interface VmSpecs {
  readonly script: readonly VmSpec[];
  readonly commandLine: readonly VmSpec[];
}

export interface ParsedVmSpecs {
  readonly entries: Map<RequestKey, RawEntry>;
  /** One line per key the command line takes over from the script with another value. */
  readonly warnings: readonly string[];
}

/**
 * Split the -vm arguments into key → value. Keys are case-insensitive; a value may itself contain
 * "=" (the original cut it off). A key given twice in the script, or twice on the command line, is
 * refused (one value would be dropped silently). A key in both: the command line wins, as qsub
 * merges `-l` per key, and the warning says so.
 */
export function parseVmSpecs(specs: VmSpecs): ParsedVmSpecs {
  const issues: Issue[] = [];
  const script = readSpecs(specs.script, issues);
  const commandLine = readSpecs(specs.commandLine, issues);
  if (issues.length > 0) throw new ValidationError('REQUEST_INVALID', issues, { fault: 'job' });
  const entries = new Map(script);
  const warnings: string[] = [];
  for (const [key, entry] of commandLine) {
    const earlier = script.get(key);
    if (earlier !== undefined && earlier.value !== entry.value) {
      warnings.push(`${entry.source}: ${key} = ${displayValue(entry.value)} overrides ${key} = ${displayValue(earlier.value)} of ${earlier.source} (the command line wins)`);
    }
    entries.set(key, entry);
  }
  return { entries, warnings };
}

/** The entries of one level (script or command line); problems are added to `issues`. */
function readSpecs(specs: readonly VmSpec[], issues: Issue[]): Map<RequestKey, RawEntry> {
  const entries = new Map<RequestKey, RawEntry>();
  for (const spec of specs) {
    for (const part of spec.text.split(',')) {
      const eq = part.indexOf('=');
      const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? '' : part.slice(eq + 1).trim();
      if (!(REQUEST_KEYS as readonly string[]).includes(name)) {
        throw new VtorqueError(
          'REQUEST_UNKNOWN_KEY',
          `${spec.source}: unknown -vm key ${displayValue(name)}; valid keys: ${REQUEST_KEYS.join(', ')}`,
          { exitCode: 2, fault: 'job' },
        );
      }
      const key = name as RequestKey;
      const earlier = entries.get(key);
      if (earlier !== undefined) {
        issues.push({ source: spec.source, key, value, expected: `${key} once (${ACCEPTED[key]}), but it is also ${displayValue(earlier.value)} (${earlier.source})` });
        continue;
      }
      entries.set(key, { value, source: spec.source });
      if (value === '') issues.push({ source: spec.source, key, value, expected: `key=value with ${ACCEPTED[key]}` });
    }
  }
  return entries;
}

/** How vsub reaches the user's files: as the user, relative to the submit directory. */
export interface RequestIo {
  readonly cwd: string;
  readFile(path: string): string;
  /** Authorized pool image names: an unknown image is reported by the policy, not as a distro problem. */
  readonly poolImages: readonly string[];
}

export interface BuiltRequest {
  readonly request: VmRequest;
  readonly warnings: readonly string[];
}

/**
 * Turn raw -vm entries into a complete request: each value parsed to its type, files read and
 * embedded as data, defaults taken from the site config. Every bad value is reported at once.
 */
export function buildRequest(
  raw: ReadonlyMap<RequestKey, RawEntry>,
  config: SiteConfig,
  io: RequestIo,
  env: { debug: boolean; trace: boolean },
): BuiltRequest {
  const issues: Issue[] = [];
  const get = <T>(key: RequestKey, parse: (text: string, src: string) => T | undefined): T | undefined => {
    const entry = raw.get(key);
    if (!entry) return undefined;
    let parsed: T | undefined;
    try {
      parsed = parse(entry.value, entry.source);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      issues.push({ source: entry.source, key, value: entry.value, expected: `${ACCEPTED[key]} (${reason})` });
      return undefined;
    }
    if (parsed === undefined) issues.push({ source: entry.source, key, value: entry.value, expected: ACCEPTED[key] as string });
    return parsed;
  };
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const embed = (p: string): EmbeddedFile => {
    const path = absolute(p);
    const content = io.readFile(path);
    if (Buffer.byteLength(content) > config.VM_SCRIPT_MAX_KB * 1024) throw new Error(`larger than VM_SCRIPT_MAX_KB=${config.VM_SCRIPT_MAX_KB}`);
    return { path, content };
  };

  const img = get('img', (t) => parseImage(t, config, absolute));
  const distro = get('distro', parseDistro);
  const arch = get('arch', (t) => (t.toLowerCase() === 'x86_64' ? ('x86_64' as const) : undefined));
  const vcpus = get('vcpus', (t) => parseInteger(t, LIMITS.vcpus.min, LIMITS.vcpus.max));
  const ram = get('ram', (t) => parseMiBWithin(t, LIMITS.ramMiB.min, LIMITS.ramMiB.max));
  const vmsPerNode = get('vms_per_node', (t) => parseInteger(t, LIMITS.vmsPerNode.min, LIMITS.vmsPerNode.max));
  const pinning = get('vcpu_pinning', (t): boolean | PinningMap | undefined => {
    const b = parseRequestBool(t);
    if (b !== undefined) return b;
    const file = embed(t);
    const cpus = parsePinningText(file.content);
    return cpus ? { path: file.path, cpus } : undefined;
  });
  const disk = get('disk', (t) => (IMAGE_NAME.test(t.split('/').pop() ?? '') && !t.split('/').includes('..') ? absolute(t) : undefined));
  const vmPrologue = get('vm_prologue', embed);
  const vmEpilogue = get('vm_epilogue', embed);
  const fsType = get('fs_type', parseFsType);
  const metadata = get('metadata', (t): UserMetadata | undefined => {
    if (!/\.ya?ml$/i.test(t)) return undefined;
    const file = embed(t);
    const data = yaml.load(file.content, { schema: yaml.JSON_SCHEMA });
    if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Error('not a YAML mapping');
    return { path: file.path, data: data as Record<string, unknown> };
  });
  const vrdma = get('vrdma', parseRequestBool);
  const iocm = get('iocm', parseRequestBool);
  const iocmMin = get('iocm_min_cores', (t) => parseInteger(t, LIMITS.iocmCores.min, LIMITS.iocmCores.max));
  const iocmMax = get('iocm_max_cores', (t) => parseInteger(t, LIMITS.iocmCores.min, LIMITS.iocmCores.max));
  const unclot = get('unclot', parseRequestBool);
  const shmem = get('unclot_shmem', (t) => parseMiBWithin(t, LIMITS.shmemMiB.min, LIMITS.shmemMiB.max));

  const image = img ?? config[DEFAULTS.img];
  const resolvedDistro = distro ?? (img === undefined ? config[DEFAULTS.distro] : distroFromImageName(image));
  if (resolvedDistro === undefined && issues.length === 0 && (image.startsWith('/') || io.poolImages.includes(image))) {
    issues.push({ source: raw.get('img')?.source ?? '-vm', key: 'distro', expected: `a distro for image ${JSON.stringify(image)}, which does not name one: add distro=<${ACCEPTED.distro}>` });
  }
  if (issues.length > 0) throw new ValidationError('REQUEST_INVALID', issues, { fault: 'job' });

  const request: VmRequest = {
    version: 1,
    img: image,
    distro: resolvedDistro ?? config[DEFAULTS.distro],
    arch: arch ?? config[DEFAULTS.arch],
    vcpus: vcpus ?? config[DEFAULTS.vcpus],
    ram: ram ?? config[DEFAULTS.ram],
    vms_per_node: vmsPerNode ?? config[DEFAULTS.vms_per_node],
    vcpu_pinning: pinning ?? config[DEFAULTS.vcpu_pinning],
    disk: disk ?? (config[DEFAULTS.disk] === '' ? null : config[DEFAULTS.disk]),
    vm_prologue: vmPrologue ?? null,
    vm_epilogue: vmEpilogue ?? null,
    fs_type: fsType ?? config[DEFAULTS.fs_type],
    metadata: metadata ?? null,
    vrdma: vrdma ?? config[DEFAULTS.vrdma],
    iocm: iocm ?? config[DEFAULTS.iocm],
    iocm_min_cores: iocmMin ?? config[DEFAULTS.iocm_min_cores],
    iocm_max_cores: iocmMax ?? config[DEFAULTS.iocm_max_cores],
    unclot: unclot ?? config[DEFAULTS.unclot],
    unclot_shmem: shmem ?? config[DEFAULTS.unclot_shmem],
    debug: env.debug || env.trace || config.DEBUG_DEFAULT || config.TRACE_DEFAULT,
    trace: env.trace || config.TRACE_DEFAULT,
  };
  return { request, warnings: [] };
}

function parseImage(text: string, config: SiteConfig, absolute: (p: string) => string): string | undefined {
  if (text.length > LIMITS.pathChars || text.split('/').includes('..')) return undefined;
  const base = text.split('/').pop() ?? '';
  if (!IMAGE_NAME.test(base)) return undefined;
  if (!text.includes('/')) return text;
  // A path: only a site that allows user images takes it as is; otherwise, as the original did,
  // the pool image of the same name is meant.
  return config.ALLOW_USER_IMAGES ? absolute(text) : base;
}
