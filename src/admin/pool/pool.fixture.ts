// Test fixture for the image pool: a temporary pool and spool, domains as the engine renders them,
// root's job records as the engine writes them. A harness: it may import the engine.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDomainXml, type DomainSpec } from '../../core/libvirt/index.js';
import { createRenderer } from '../../core/render/index.js';
import { writeJobRecord } from '../../engine/index.js';
import type { DomainSource, DomainView, ImageUse } from './usage.js';

export const TEMPLATES = fileURLToPath(new URL('../../../templates-vm', import.meta.url));

export interface TempSite {
  readonly root: string;
  /** VM_IMG_DIR */
  readonly pool: string;
  /** SPOOL_DIR */
  readonly spool: string;
  /** Where images to add come from. */
  readonly src: string;
}

const made: string[] = [];

/** Remove every site tempSite made (afterAll). */
export function removeTempSites(): void {
  for (const root of made.splice(0)) rmSync(root, { recursive: true, force: true });
}

export function tempSite(): TempSite {
  const root = mkdtempSync(join(tmpdir(), 'vtq-pool-'));
  made.push(root);
  const site = { root, pool: join(root, 'images'), spool: join(root, 'spool'), src: join(root, 'src') };
  for (const d of [site.pool, site.spool, site.src]) mkdirSync(d, { mode: 0o755 });
  return site;
}

/**
 * `qemu-img create` (real, fast): a qcow2 or raw image of `size`, optionally on a backing file that
 * is not opened (-u: it may be missing, or a FIFO).
 */
export function qemuImgCreate(path: string, format: 'qcow2' | 'raw', size: string, backing?: string): void {
  const args = ['create', '-q', '-f', format, ...(backing ? ['-u', '-b', backing, '-F', 'qcow2'] : []), path, size];
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${r.stderr}`);
}

export interface DomainOf {
  readonly name: string;
  readonly job: string;
  readonly user?: string;
  /** The overlay (the disk's source). */
  readonly disk: string;
  /** Its backing store: the pool image, or a copy in the job's dir or tmpfs. */
  readonly backing: string | null;
  readonly kernel?: string;
}

/** A job VM's domain XML exactly as the engine renders it (core/libvirt buildDomainXml, templates-vm). */
export function domainXml(d: DomainOf): string {
  const spec: DomainSpec = {
    name: d.name,
    uuid: '6f1c1b9e-3f43-4b4e-9a53-0c2f0e6b7a01',
    type: 'test',
    memoryMiB: 256,
    vcpus: 1,
    vcpuPins: [],
    machine: 'q35',
    arch: 'x86_64',
    boot: d.kernel ? { kernel: d.kernel, initrd: d.kernel.replace(/\.vmlinuz$/, '.initrd'), cmdline: 'console=ttyS0' } : null,
    disks: [{ file: d.disk, format: 'qcow2', target: 'vda', readonly: false, backing: d.backing === null ? null : { file: d.backing, format: 'qcow2' } }],
    net: { kind: 'bridge', bridge: 'br0', mac: '52:54:00:00:00:01' },
    consoleLog: join(tmpdir(), `${d.name}.log`),
    tcgTbCacheMiB: 0,
    virtiofs: [],
    owner: { job: d.job, user: d.user ?? 'alice', node: 'n1', index: 0 },
    dac: null,
  };
  return buildDomainXml(spec, createRenderer(TEMPLATES));
}

/** A domain vTorque did not define: no owner element. */
export function foreignXml(d: Omit<DomainOf, 'job' | 'user'>): string {
  return domainXml({ ...d, job: 'x' }).replace(/<metadata>[\s\S]*?<\/metadata>\n?/, '');
}

/** Root's record of a job on this node, written by the engine's own writer. */
export function recordJob(spool: string, jobId: string, vms: readonly string[], user = 'alice'): void {
  writeJobRecord({ SPOOL_DIR: spool }, { version: 1, jobId, owner: { user, uid: 1000 }, node: 'n1', keepLogs: false, componentStops: [], vms, ramdisk: null, qemuUid: null, createdMs: Date.now() });
}

export function listSource(domains: readonly DomainView[]): DomainSource {
  return { where: 'test:///list', list: async () => domains };
}

export function failingSource(message: string): DomainSource {
  return {
    where: 'qemu:///system',
    list: async () => {
      throw new Error(message);
    },
  };
}

/** An image no job uses, as readPoolUse would say with nothing on the node. */
export const freeUse = (image: string): ImageUse => ({ image, users: [], unknown: null });
