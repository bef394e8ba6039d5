import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { SiteConfig } from '../../core/config/index.js';
import type { DomainType } from '../types.js';
import { probeKvm, type ProbeResult } from './kvm-probe.js';
import type { EngineLog } from './log.js';

export type HypervisorSetting = SiteConfig['HYPERVISOR'];

/** The libvirt test driver (`test:///default`, `test:///path/to/node.xml`). */
export function isTestUri(uri: string): boolean {
  return /^test(\+[a-z0-9]+)?:\/\//i.test(uri);
}

/** Where libvirt on this host keeps a domain's qemu log (why its qemu stopped): the system driver's; null for any other URI. */
export function qemuLogPath(uri: string, domain: string): string | null {
  return /^qemu(\+unix)?:\/\/\/system(\?|$)/.test(uri) ? `/var/log/libvirt/qemu/${domain}.log` : null;
}

/**
 * The domain type for `uri`: 'test' for the test driver, the configured type when it is not
 * 'auto', else 'kvm' only when `probe` shows a KVM guest really runs (a warning names the reason
 * when it falls back to TCG).
 */
export async function decideDomainType(
  hypervisor: HypervisorSetting,
  uri: string,
  probe: () => Promise<ProbeResult>,
  log: EngineLog,
): Promise<DomainType> {
  if (isTestUri(uri)) return 'test';
  if (hypervisor !== 'auto') return hypervisor;
  const result = await probe();
  if (result.ok) return 'kvm';
  log.warn({ uri, reason: result.reason }, 'HYPERVISOR=auto: KVM does not work here, using qemu (TCG)');
  return 'qemu';
}

export interface DomainTypeOptions {
  /** The probe result is cached in `<spoolDir>/cache/kvm-probe.json`. */
  readonly spoolDir: string;
  readonly log: EngineLog;
  /** Default: probeKvm (define and start a throw-away kvm guest). */
  readonly probe?: (uri: string) => Promise<ProbeResult>;
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

/** decideDomainType with the real probe, whose conclusive answer is reused for an hour. */
export function domainType(hypervisor: HypervisorSetting, uri: string, options: DomainTypeOptions): Promise<DomainType> {
  const { probe = probeKvm, maxAgeMs = 3_600_000, now = Date.now } = options;
  return decideDomainType(hypervisor, uri, () => cachedProbe(uri, options.spoolDir, maxAgeMs, now, probe, options.log), options.log);
}

interface CacheEntry extends ProbeResult {
  readonly version: 1;
  readonly uri: string;
  readonly checkedAt: number;
}

async function cachedProbe(
  uri: string,
  spoolDir: string,
  maxAgeMs: number,
  now: () => number,
  probe: (uri: string) => Promise<ProbeResult>,
  log: EngineLog,
): Promise<ProbeResult> {
  const dir = join(spoolDir, 'cache');
  const file = join(dir, 'kvm-probe.json');
  const cached = await readEntry(file);
  const age = cached ? now() - cached.checkedAt : -1;
  if (cached && cached.uri === uri && age >= 0 && age < maxAgeMs) return cached;
  const result = await probe(uri);
  if (!result.conclusive) return result;
  try {
    await writeEntry(dir, file, { version: 1, uri, ok: result.ok, reason: result.reason, conclusive: true, checkedAt: now() });
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'cannot cache the KVM probe result');
  }
  return result;
}

async function readEntry(file: string): Promise<CacheEntry | null> {
  try {
    const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const data: unknown = JSON.parse(await handle.readFile('utf8'));
      return isEntry(data) ? data : null;
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

function isEntry(data: unknown): data is CacheEntry {
  const e = data as Partial<CacheEntry> | null;
  return typeof e === 'object' && e !== null && e.version === 1 && typeof e.uri === 'string' && typeof e.ok === 'boolean' && typeof e.reason === 'string' && e.conclusive === true && typeof e.checkedAt === 'number';
}

/** A new file created exclusively (never through a planted link), then renamed over the old one. */
async function writeEntry(dir: string, file: string, entry: CacheEntry): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await handle.writeFile(`${JSON.stringify(entry)}\n`);
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
