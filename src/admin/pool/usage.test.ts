import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { domainXml, failingSource, foreignXml, listSource, recordJob, tempSite, removeTempSites } from './pool.fixture.js';
import { filesOfDomain, poolImageOf, readPoolUse, refuseWhileUsed, useOf } from './usage.js';

afterAll(removeTempSites);

describe('filesOfDomain / poolImageOf', () => {
  it("reads the disk's source, its backing store and the boot files from the domain XML, unescaped", () => {
    const xml = domainXml({ name: 'vtq-1-n1-0', job: '1.srv', disk: '/spool/jobs/1/vms/a/disk.qcow2', backing: "/pool/it's.qcow2", kernel: '/pool/k.qcow2.vmlinuz' });
    expect(filesOfDomain(xml)).toEqual(expect.arrayContaining(['/spool/jobs/1/vms/a/disk.qcow2', "/pool/it's.qcow2", '/pool/k.qcow2.vmlinuz', '/pool/k.qcow2.initrd']));
    // Text that merely looks like an element is escaped, so it is no file.
    expect(filesOfDomain("<domain><description>&lt;source file='/pool/x.qcow2'/&gt;</description></domain>")).toEqual([]);
  });

  it('maps pool files (an image or its boot files) to the image; anything else to nothing', () => {
    expect(poolImageOf('/pool', '/pool/a.qcow2')).toBe('a.qcow2');
    expect(poolImageOf('/pool/', '/pool/./a.qcow2.initrd')).toBe('a.qcow2');
    expect(poolImageOf('/pool', '/pool/a.qcow2.cmdline')).toBe('a.qcow2');
    expect(poolImageOf('/pool', '/pool/sub/a.qcow2')).toBeNull();
    expect(poolImageOf('/pool', '/ramdisk/1/base.qcow2')).toBeNull();
    expect(poolImageOf('/pool', '/pool/a.iso')).toBeNull();
  });
});

describe.skipIf(process.geteuid?.() !== 0)('readPoolUse (root)', () => {
  it('names the jobs whose VMs back on an image or boot its kernel, from libvirt and root records only', async () => {
    const site = tempSite();
    const img = (n: string) => join(site.pool, n);
    const overlay = (job: string) => join(site.spool, 'jobs', job, 'vms', 'vm0', 'disk.qcow2');
    recordJob(site.spool, '12.srv', ['vtq-12-n1-0', 'vtq-12-n1-1']);
    recordJob(site.spool, '13.srv', ['vtq-13-n1-0'], 'bob');
    recordJob(site.spool, '14.srv', []);
    // A job owner's own files say nothing: his job.json claims another image.
    mkdirSync(join(site.spool, 'jobs', '14.srv'), { recursive: true });
    writeFileSync(join(site.spool, 'jobs', '14.srv', 'job.json'), JSON.stringify({ img: 'b.qcow2' }));
    const domains = listSource([
      { name: 'vtq-12-n1-0', active: true, xml: domainXml({ name: 'vtq-12-n1-0', job: '12.srv', disk: overlay('12'), backing: img('a.qcow2') }) },
      { name: 'vtq-12-n1-1', active: true, xml: domainXml({ name: 'vtq-12-n1-1', job: '12.srv', disk: overlay('12'), backing: img('a.qcow2') }) },
      // ramdisk: the backing is the job's copy; the kernel is still the pool's.
      { name: 'vtq-13-n1-0', active: true, xml: domainXml({ name: 'vtq-13-n1-0', job: '13.srv', user: 'bob', disk: '/ramdisk/13/vm0.qcow2', backing: '/ramdisk/13/base.qcow2', kernel: img('b.qcow2.vmlinuz') }) },
      // a leftover: shut off, its job no longer recorded
      { name: 'vtq-9-n1-0', active: false, xml: domainXml({ name: 'vtq-9-n1-0', job: '9.srv', disk: overlay('9'), backing: img('a.qcow2') }) },
      { name: 'site-vm', active: false, xml: foreignXml({ name: 'site-vm', disk: img('c.qcow2'), backing: null }) },
    ]);
    const pool = await readPoolUse({ poolDir: site.pool, spoolDir: site.spool, domains, readRecordsToo: true });
    expect(pool.recordedJobs).toEqual(['12.srv', '13.srv', '14.srv']);
    expect(pool.libvirtProblem).toBeNull();
    const a = useOf(pool, 'a.qcow2');
    expect(a.users).toEqual([
      { jobId: '12.srv', owner: 'alice', vms: [{ name: 'vtq-12-n1-0', running: true }, { name: 'vtq-12-n1-1', running: true }], recorded: true, blocking: true },
      { jobId: '9.srv', owner: 'alice', vms: [{ name: 'vtq-9-n1-0', running: false }], recorded: false, blocking: false },
    ]);
    expect(() => refuseWhileUsed(a, 'delete')).toThrow('image a.qcow2 is in use on this node by job 12.srv (VMs vtq-12-n1-0 running, vtq-12-n1-1 running): delete it when they have ended');
    expect(useOf(pool, 'b.qcow2').users.map((u) => [u.jobId, u.owner, u.blocking])).toEqual([['13.srv', 'bob', true]]);
    expect(() => refuseWhileUsed(useOf(pool, 'c.qcow2'), 'replace')).toThrow('image c.qcow2 is in use on this node by VM site-vm (not a vTorque job, shut off): replace it when they have ended');
    const free = useOf(pool, 'd.qcow2');
    expect(free).toEqual({ image: 'd.qcow2', users: [], unknown: null });
    expect(() => refuseWhileUsed(free, 'delete')).not.toThrow();
  });

  it("counts a recorded job from its record's baseImage before libvirt has its VMs (when the record names it)", async () => {
    const site = tempSite();
    mkdirSync(join(site.spool, 'records'), { recursive: true, mode: 0o700 });
    writeFileSync(join(site.spool, 'records', '20.srv.json'), JSON.stringify({ version: 1, jobId: '20.srv', owner: { user: 'alice', uid: 1000 }, vms: [], baseImage: join(site.pool, 'a.qcow2') }), { mode: 0o600 });
    const pool = await readPoolUse({ poolDir: site.pool, spoolDir: site.spool, domains: listSource([]), readRecordsToo: true });
    expect(() => refuseWhileUsed(useOf(pool, 'a.qcow2'), 'delete')).toThrow('image a.qcow2 is in use on this node by job 20.srv (starting, no VM defined yet): delete it when they have ended');
  });

  it('without libvirt: refuses while root records jobs on this node (any may use it), not when none', async () => {
    const site = tempSite();
    const none = await readPoolUse({ poolDir: site.pool, spoolDir: site.spool, domains: failingSource('connection refused'), readRecordsToo: true });
    expect(none.libvirtProblem).toBe('libvirt (qemu:///system) did not answer: connection refused');
    expect(() => refuseWhileUsed(useOf(none, 'a.qcow2'), 'delete')).not.toThrow();
    recordJob(site.spool, '12.srv', ['vtq-12-n1-0']);
    recordJob(site.spool, '13.srv', []);
    const some = await readPoolUse({ poolDir: site.pool, spoolDir: site.spool, domains: failingSource('connection refused'), readRecordsToo: true });
    expect(() => refuseWhileUsed(useOf(some, 'a.qcow2'), 'delete')).toThrow(
      expect.objectContaining({ code: 'LIBVIRT_FAILED', fault: 'node', message: 'image a.qcow2: cannot tell whether jobs 12.srv, 13.srv on this node use it, so it is not deleted: libvirt (qemu:///system) did not answer: connection refused; retry when libvirt answers' }),
    );
  });

  it('a record that does not parse still names its job', async () => {
    const site = tempSite();
    mkdirSync(join(site.spool, 'records'), { recursive: true, mode: 0o700 });
    writeFileSync(join(site.spool, 'records', '30.srv.json'), '{"version": 1, "jobId": 5', { mode: 0o600 });
    const pool = await readPoolUse({ poolDir: site.pool, spoolDir: site.spool, domains: null, readRecordsToo: true });
    expect(pool.recordedJobs).toEqual(['30.srv']);
    expect(useOf(pool, 'a.qcow2').unknown).toEqual({ reason: 'libvirt was not asked', jobs: ['30.srv'] });
  });
});
