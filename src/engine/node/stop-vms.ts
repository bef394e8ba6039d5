import { join } from 'node:path';
import type { SiteConfig } from '../../core/config/index.js';
import * as v from 'valibot';
import { STATE_FILES, VmRecordsSchema, type VmRecord } from '../../core/contract/job-state.v1.js';
import { readFileNoFollow } from '../../core/fs/index.js';
import type { EngineContext } from '../context.js';
import { forgetArp, ipsOfMacs } from '../discover/index.js';
import { jobDirPath, removeJobFiles } from '../prepare/index.js';
import { teardownJob } from '../teardown/index.js';
import type { NodeStopResult } from './access.js';

/** The job's VM records on a node (contract job-state.v1). */
export const VMS_FILE = STATE_FILES.vms;

/**
 * Tear down every VM of the job on this node and remove its files. Idempotent and safe after a
 * partial start: it works from what libvirt and the spool hold, not from a plan.
 */
export async function stopJobVms(jobId: string, ctx: EngineContext, opts: { keepLogs: boolean; ramdisk?: string | undefined }): Promise<NodeStopResult> {
  const c = ctx.config;
  const records = readVmRecords(c, jobId);
  const graceful = new Set(records.filter((r) => r.persistentDisk).map((r) => r.name));
  const torn = await teardownJob(ctx.libvirt, jobId, { graceful, shutdownTimeoutMs: c.TIMEOUT * 1000, parallel: c.PARALLEL ? 8 : 1, log: ctx.log });
  // Addresses from the records, and from the neighbour table by MAC: a start that failed after
  // its VMs got addresses (SSH never up) wrote no records, but its ARP entries must go too.
  const ips = new Set(records.flatMap((r) => (r.ip ? [r.ip] : [])));
  if (ctx.domainType !== 'test') for (const ip of await ipsOfMacs([...torn.macs, ...records.map((r) => r.mac)]).catch(() => [])) ips.add(ip);
  const arp = ctx.domainType === 'test' ? [] : await forgetArp([...ips], { log: ctx.log });
  const files = await removeJobFiles(c, jobId, { keepLogs: opts.keepLogs, ...(opts.ramdisk ? { ramdisk: opts.ramdisk } : {}) });
  return { domains: torn.removed, files, arp };
}

/** The job's VM records, or none (a start that failed before boot, already cleaned, or records that are not the contract's). */
export function readVmRecords(config: SiteConfig, jobId: string): VmRecord[] {
  try {
    const parsed = v.safeParse(VmRecordsSchema, JSON.parse(readFileNoFollow(join(jobDirPath(config, jobId), VMS_FILE), 16 << 20)) as unknown);
    return parsed.success ? parsed.output : [];
  } catch {
    return [];
  }
}
