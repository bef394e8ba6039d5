import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bigNode, engineContext, engineSite, startInput } from '../../test/engine/engine-harness.js';
import { foreignXml } from '../../test/engine/helpers.js';
import { jobDirName } from '../core/contract/job-state.v1.js';
import { reapOrphans } from './gc.js';
import { openLibvirt, type LibvirtNode } from './libvirt/index.js';
import { domainPrefix } from './naming.js';
import { startJobVms } from './start-local.js';
import { stopJobVms } from './node/index.js';

// test:///default is shared by every connection of this process: job ids unique to this file.
// A's id is longer than a job dir name may be: its dir name (cut at 120) differs from its id.
const A = `7${process.pid}.gcsrv.`.padEnd(125, 'x');
const B = `8${process.pid}.gcsrv`;
const FOREIGN = `${domainPrefix(A)}intruder-1`;

let libvirt: LibvirtNode;
const roots: string[] = [];
beforeAll(async () => {
  libvirt = await openLibvirt('test:///default');
});
afterAll(async () => {
  await libvirt.close();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const domainsOf = async (job: string) =>
  (await libvirt.listDomains())
    .filter((d) => d.name.startsWith(domainPrefix(job)))
    .map((d) => d.name)
    .sort();
const mounted = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

function site() {
  const s = engineSite();
  roots.push(s.root);
  return s;
}

describe('reapOrphans', () => {
  it('reaps a gone job\'s domains, tmpfs and files; leaves an active job and a foreign lookalike; idempotent', async () => {
    const { config, baseImage } = site();
    const ctx = engineContext(config, libvirt);
    expect(jobDirName(A)).not.toBe(A);
    const startedA = await startJobVms(startInput(A, baseImage, { fs_type: 'ramdisk' }, [bigNode()]), ctx);
    const startedB = await startJobVms(startInput(B, baseImage, {}, [bigNode()]), ctx);
    await libvirt.define(foreignXml(FOREIGN)); // our name prefix, no owner metadata: not ours
    try {
      const aDomains = startedA.vms.map((v) => v.name).sort();
      const bDomains = startedB.vms.map((v) => v.name).sort();
      expect(aDomains).toHaveLength(2);
      expect(await domainsOf(A)).toEqual([...aDomains, FOREIGN].sort());
      const aDir = join(config.SPOOL_DIR, 'jobs', jobDirName(A));
      const aTmpfs = join(config.RAMDISK_DIR, jobDirName(A));
      const bDir = join(config.SPOOL_DIR, 'jobs', jobDirName(B));
      expect([existsSync(aDir), mounted(aTmpfs), existsSync(bDir)]).toEqual([true, true, true]);

      const asked: string[] = [];
      const isActive = (id: string) => (asked.push(id), id === B);

      const dry = await reapOrphans(ctx, { isActive, dryRun: true });
      expect(dry).toEqual({ jobs: [{ job: A, seen: ['domain', 'job dir', 'tmpfs dir'], domains: [], files: 0, arp: [], error: null }], markers: [] });
      // The domain's exact id and the dir names were both asked about; B's own dir too.
      expect(asked).toContain(A);
      expect(asked).toContain(jobDirName(A));
      expect(asked).toContain(B);
      expect(await domainsOf(A)).toEqual([...aDomains, FOREIGN].sort());
      expect([existsSync(aDir), mounted(aTmpfs)]).toEqual([true, true]);

      const real = await reapOrphans(ctx, { isActive });
      expect(real.markers).toEqual([]);
      expect(real.jobs).toHaveLength(1);
      const reaped = real.jobs[0];
      expect(reaped?.job).toBe(A);
      expect(reaped?.seen).toEqual(['domain', 'job dir', 'tmpfs dir']);
      expect(reaped?.domains).toEqual(aDomains);
      expect(reaped?.error).toBeNull();
      expect(reaped?.arp).toEqual([]);
      expect(reaped?.files).toBeGreaterThan(2);
      expect(await domainsOf(A)).toEqual([FOREIGN]);
      expect(await libvirt.state(FOREIGN)).toBe('shutoff');
      expect([existsSync(aDir), mounted(aTmpfs), existsSync(aTmpfs)]).toEqual([false, false, false]);
      // B untouched: its domains still run, its files are there.
      const bListed = (await libvirt.listDomains()).filter((d) => bDomains.includes(d.name));
      expect(bListed.sort((x, y) => x.name.localeCompare(y.name))).toEqual(bDomains.map((name) => ({ name, active: true })));
      expect(readdirSync(bDir).length).toBeGreaterThan(0);
      expect(readdirSync(join(config.SPOOL_DIR, 'jobs'))).toEqual([jobDirName(B)]);

      expect(await reapOrphans(ctx, { isActive })).toEqual({ jobs: [], markers: [] });
      expect(await domainsOf(B)).toEqual(bDomains);
    } finally {
      await stopJobVms(A, ctx, { keepLogs: false });
      await stopJobVms(B, ctx, { keepLogs: false });
      if ((await libvirt.listDomains()).some((d) => d.name === FOREIGN)) await libvirt.undefine(FOREIGN);
    }
    expect(await domainsOf(A)).toEqual([]);
    expect(await domainsOf(B)).toEqual([]);
  });

  it('reaps job dirs and tmpfs dirs left without domains; keeps those of active jobs', async () => {
    const { config } = site();
    const ctx = engineContext(config, libvirt);
    const jobs = join(config.SPOOL_DIR, 'jobs');
    mkdirSync(jobs, { mode: 0o711 });
    for (const name of ['41.gone', '42.live']) {
      mkdirSync(join(jobs, name), { mode: 0o711 });
      writeFileSync(join(jobs, name, 'vms.json'), '[]\n');
    }
    mkdirSync(join(config.RAMDISK_DIR, '43.gone'), { mode: 0o711 });
    const isActive = (id: string) => id === '42.live';

    const dry = await reapOrphans(ctx, { isActive, dryRun: true });
    expect(dry.jobs.map((j) => [j.job, j.seen])).toEqual([
      ['41.gone', ['job dir']],
      ['43.gone', ['tmpfs dir']],
    ]);
    expect(existsSync(join(jobs, '41.gone', 'vms.json'))).toBe(true);

    const real = await reapOrphans(ctx, { isActive });
    expect(real.jobs).toEqual([
      { job: '41.gone', seen: ['job dir'], domains: [], files: 2, arp: [], error: null },
      { job: '43.gone', seen: ['tmpfs dir'], domains: [], files: 1, arp: [], error: null },
    ]);
    expect(readdirSync(jobs)).toEqual(['42.live']);
    expect(readdirSync(join(jobs, '42.live'))).toEqual(['vms.json']);
    expect(readdirSync(config.RAMDISK_DIR)).toEqual([]);
    expect((await reapOrphans(ctx, { isActive })).jobs).toEqual([]);
  });

  it('one job failing to be reaped does not stop the others; its error is reported', async () => {
    const { config } = site();
    const ctx = engineContext(config, libvirt);
    const jobs = join(config.SPOOL_DIR, 'jobs');
    mkdirSync(jobs, { mode: 0o711 });
    for (const name of ['61.stuck', '62.gone']) mkdirSync(join(jobs, name), { mode: 0o711 });
    // A mount inside a job dir: removing the tree must refuse to cross it.
    const mnt = join(jobs, '61.stuck', 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      const r = await reapOrphans(ctx, { isActive: () => false });
      expect(r.jobs.map((j) => [j.job, j.error === null])).toEqual([
        ['61.stuck', false],
        ['62.gone', true],
      ]);
      expect(r.jobs[0]?.error).toContain(mnt);
      expect(readdirSync(jobs)).toEqual(['61.stuck']);
    } finally {
      execFileSync('umount', [mnt]);
    }
    // The next run tries again, and now succeeds.
    expect((await reapOrphans(ctx, { isActive: () => false })).jobs.map((j) => [j.job, j.error])).toEqual([['61.stuck', null]]);
    expect(readdirSync(jobs)).toEqual([]);
  });

  it('removes the cancel directories of gone jobs at once, their fault counters when stale, and nothing of live jobs', async () => {
    const { config } = site();
    const ctx = engineContext(config, libvirt);
    const now = Date.now();
    const hour = 3600_000;
    const cancel = join(config.SPOOL_DIR, 'cancel');
    const attempts = join(config.SPOOL_DIR, 'attempts');
    mkdirSync(cancel, { mode: 0o711 });
    mkdirSync(attempts, { mode: 0o700 });
    const marker = (dir: string, name: string, ageMs: number): string => {
      const path = join(dir, name);
      writeFileSync(path, '1\n');
      const t = (now - ageMs) / 1000;
      utimesSync(path, t, t);
      return path;
    };
    // An owner's cancel directory with his marker in it, an old-style marker file, a live job's.
    const goneDir = join(cancel, '51.gone');
    mkdirSync(join(goneDir, 'requested'), { recursive: true });
    chownSync(goneDir, 65534, 65534);
    chownSync(join(goneDir, 'requested'), 65534, 65534);
    const youngFile = marker(cancel, '52.young', 10 * 60_000);
    mkdirSync(join(cancel, '53.live'));
    const staleCount = marker(attempts, '54.gone', 5 * hour);
    marker(attempts, '55.young', 30 * 60_000);
    marker(attempts, '56.live', 30 * hour);
    const isActive = (id: string) => id === '53.live' || id === '56.live';
    const opts = { isActive, markerMaxAgeMs: 2 * hour, now };

    const dry = await reapOrphans(ctx, { ...opts, dryRun: true });
    expect(dry).toEqual({ jobs: [], markers: [goneDir, youngFile, staleCount] });
    expect(readdirSync(cancel).sort()).toEqual(['51.gone', '52.young', '53.live']);

    const real = await reapOrphans(ctx, opts);
    expect(real).toEqual({ jobs: [], markers: [goneDir, youngFile, staleCount] });
    expect(readdirSync(cancel).sort()).toEqual(['53.live']);
    expect(readdirSync(attempts).sort()).toEqual(['55.young', '56.live']);
    expect(await reapOrphans(ctx, opts)).toEqual({ jobs: [], markers: [] });

    // The default age is 24 h: a 5 h old counter of a gone job stays.
    const kept = marker(attempts, '57.gone', 5 * hour);
    expect((await reapOrphans(ctx, { isActive, now })).markers).toEqual([]);
    expect(existsSync(kept)).toBe(true);
    marker(attempts, '58.gone', 25 * hour);
    expect((await reapOrphans(ctx, { isActive, now })).markers).toEqual([join(attempts, '58.gone')]);
  });
});
