import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addImage } from './manage.js';
import { qemuImgCreate, tempSite, removeTempSites } from './pool.fixture.js';
import type { ImageUse } from './usage.js';
import { describeImage, describeImages, formatBytes, formatImageDetail, formatImageTable } from './view.js';

afterAll(removeTempSites);

const GiB = 1024 ** 3;
const use: ImageUse = {
  image: 'deb.qcow2',
  users: [
    { jobId: '12.srv', owner: 'alice', vms: [{ name: 'vtq-12-n1-0', running: true }], recorded: true, blocking: true },
    { jobId: null, owner: null, vms: [{ name: 'site-vm', running: false }], recorded: false, blocking: true },
  ],
  unknown: null,
};

describe('formatBytes', () => {
  it('uses binary units with one decimal below 100', () => {
    expect([0, 1023, 1536, 200 * 1024 ** 2, 8 * GiB, null].map(formatBytes)).toEqual(['0 B', '1023 B', '1.5 KiB', '200 MiB', '8.0 GiB', '?']);
  });
});

describe.skipIf(process.geteuid?.() !== 0)('describeImages / describeImage (root, real qemu-img)', () => {
  it('shows format, sizes, backing file (never followed), sha256 as recorded or "not recorded", description', async () => {
    const site = tempSite();
    qemuImgCreate(join(site.src, 'deb.qcow2'), 'qcow2', '8G');
    addImage(site.pool, join(site.src, 'deb.qcow2'), 'Debian 12');
    qemuImgCreate(join(site.pool, 'built.raw'), 'raw', '16M');
    // A backing file outside the pool that would block whoever opened it: qemu-img info must not.
    execFileSync('mkfifo', [join(site.src, 'fifo.qcow2')]);
    qemuImgCreate(join(site.pool, 'outside.qcow2'), 'qcow2', '1G', join(site.src, 'fifo.qcow2'));
    qemuImgCreate(join(site.pool, 'inside.qcow2'), 'qcow2', '8G', 'deb.qcow2');
    const views = await describeImages(site.pool, { root: true, timeoutMs: 10_000 });
    expect(views.map((v) => v.name)).toEqual(['built.raw', 'deb.qcow2', 'inside.qcow2', 'outside.qcow2']);
    const [built, deb, inside, outside] = views;
    expect(built).toMatchObject({ format: 'raw', virtualSizeBytes: 16 << 20, fileSizeBytes: 16 << 20, backingFile: null, sha256: null, sha256State: 'not-recorded', problems: [] });
    expect(built?.addedFrom).toBeUndefined();
    expect(deb).toMatchObject({ format: 'qcow2', virtualSizeBytes: 8 * GiB, backingFile: null, sha256State: 'recorded', description: 'Debian 12', addedFrom: join(site.src, 'deb.qcow2'), problems: [] });
    expect(deb?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(deb?.diskSizeBytes).toBeLessThan(1 << 20);
    expect(inside?.backingFile).toEqual({ name: 'deb.qcow2', format: 'qcow2', inPool: true });
    expect(outside?.backingFile).toEqual({ name: join(site.src, 'fifo.qcow2'), format: 'qcow2', inPool: false });
    expect(outside?.problems).toEqual(['has a backing file: the engine starts standalone images only, so every job with it fails']);

    const table = formatImageTable(views, site.pool).split('\n');
    expect(table[0]).toMatch(/^NAME +FORMAT +VIRTUAL +ON DISK +BACKING +SHA256 +DESCRIPTION$/);
    expect(table[2]).toMatch(new RegExp(`^deb\\.qcow2 +qcow2 +8\\.0 GiB +\\d+(\\.\\d)? KiB +- +${deb?.sha256} +Debian 12$`));
    expect(table[1]).toMatch(/^built\.raw +raw +16\.0 MiB +\S+ K?i?B +- +not recorded$/);
    expect(table[3]).toMatch(/ deb\.qcow2 \(pool\) /);
    expect(table).toContain('note: outside.qcow2: has a backing file: the engine starts standalone images only, so every job with it fails');
    expect(formatImageTable([], site.pool)).toBe(`no images in ${site.pool}\n`);
    // Users see no host path of where the image came from.
    expect((await describeImages(site.pool, { root: false }))[1]?.addedFrom).toBeUndefined();
  });

  it('says when the file changed since its sha256 was recorded, and ignores a record root did not write', async () => {
    const site = tempSite();
    writeFileSync(join(site.src, 'a.img'), 'a');
    writeFileSync(join(site.src, 'b.img'), 'b');
    addImage(site.pool, join(site.src, 'a.img'), '');
    addImage(site.pool, join(site.src, 'b.img'), '');
    utimesSync(join(site.pool, 'a.img'), new Date(), new Date(Date.now() + 5000));
    chownSync(join(site.pool, 'b.img.meta.json'), 1000, 1000);
    const [a, b] = await describeImages(site.pool, { root: true });
    expect(a).toMatchObject({ sha256State: 'changed-since-recorded', problems: [expect.stringMatching(/^changed since its sha256 was recorded/)] });
    expect(a?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toMatchObject({ sha256: null, sha256State: 'record-unusable', problems: [`${join(site.pool, 'b.img.meta.json')} is owned by uid 1000, not root: ignored`] });
    expect(formatImageTable([a!, b!], site.pool)).toMatch(/ \(file changed since\)\n/);
  });

  it('bounds qemu-img and goes on without it, from the header', async () => {
    const site = tempSite();
    qemuImgCreate(join(site.pool, 'a.qcow2'), 'qcow2', '1G');
    const slow = join(site.root, 'slow-qemu-img');
    writeFileSync(slow, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(slow, 0o755);
    const t = performance.now();
    const [timed] = await describeImages(site.pool, { root: true, qemuImg: slow, timeoutMs: 300 });
    expect(performance.now() - t).toBeLessThan(5000);
    expect(timed).toMatchObject({ format: 'qcow2', virtualSizeBytes: GiB, problems: ['qemu-img info gave no answer within 300 ms'] });
    const [without] = await describeImages(site.pool, { root: true, qemuImg: null });
    expect(without).toMatchObject({ format: 'qcow2', virtualSizeBytes: GiB, problems: ['qemu-img is not installed (Debian package qemu-utils): format details from the header only'] });
  });

  it('never gives qemu-img a qcow2 with an external data file (it would open that file)', async () => {
    const site = tempSite();
    const data = join(site.src, 'data.bin');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${data}`, join(site.pool, 'ext.qcow2'), '1G']);
    rmSync(data);
    execFileSync('mkfifo', [data]);
    const [ext] = await describeImages(site.pool, { root: true, timeoutMs: 10_000 });
    expect(ext).toMatchObject({ format: 'qcow2', virtualSizeBytes: GiB, problems: ['has an external data file: the engine starts standalone images only, so every job with it fails', 'not given to qemu-img (it would open another file)'] });
  });

  it('show image: the boot files beside it, what its VMs boot, the jobs using it (job ids only for users)', async () => {
    const site = tempSite();
    const src = join(site.src, 'deb.qcow2');
    qemuImgCreate(src, 'qcow2', '1G');
    writeFileSync(`${src}.vmlinuz`, 'kernel');
    writeFileSync(`${src}.initrd`, 'initrd');
    writeFileSync(`${src}.cmdline`, 'console=ttyS0 vtorque.seed=1\n');
    addImage(site.pool, src, 'Debian');
    const d = await describeImage(site.pool, 'deb.qcow2', use, { root: true });
    expect(d.bootFiles.kernel).toMatchObject({ name: 'deb.qcow2.vmlinuz', sizeBytes: 6, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), problems: [] });
    expect(d.bootFiles.cmdline).toMatchObject({ name: 'deb.qcow2.cmdline', text: 'console=ttyS0 vtorque.seed=1' });
    expect(d.boots).toBe('kernel');
    expect(d.usedBy).toEqual({ known: true, reason: null, jobs: [
      { jobId: '12.srv', owner: 'alice', vms: [{ name: 'vtq-12-n1-0', running: true }], recordedOnThisNode: true, blocking: true },
      { jobId: null, owner: null, vms: [{ name: 'site-vm', running: false }], recordedOnThisNode: false, blocking: true },
    ] });
    const text = formatImageDetail(d);
    expect(text).toMatch(/^name: +deb\.qcow2$/m);
    expect(text).toMatch(/^cmdline: +deb\.qcow2\.cmdline \(29 B, sha256 [0-9a-f]{64}\): "console=ttyS0 vtorque\.seed=1"$/m);
    expect(text).toMatch(/^boots: +its kernel and initrd \(direct kernel boot\)$/m);
    expect(text).toMatch(/^used by: +job 12\.srv \(VM vtq-12-n1-0 running, owner alice\); VM site-vm \(not a vTorque job, shut off\)$/m);
    expect(text).toMatch(new RegExp(`^added from: +${src.replaceAll('.', '\\.')}$`, 'm'));

    const user = await describeImage(site.pool, 'deb.qcow2', use, { root: false });
    expect(user.usedBy.jobs).toEqual([{ jobId: '12.srv' }, { jobId: null }]);
    expect(user.addedFrom).toBeUndefined();
    expect(formatImageDetail(user)).toMatch(/^used by: +job 12\.srv; a VM vTorque did not start$/m);
    expect(formatImageDetail(user)).not.toContain(site.src);

    const unknown = await describeImage(site.pool, 'deb.qcow2', { image: 'deb.qcow2', users: [], unknown: { reason: 'libvirt (qemu:///system) did not answer: permission denied', jobs: null } }, { root: false });
    expect(formatImageDetail(unknown)).toMatch(/^used by: +unknown: libvirt \(qemu:\/\/\/system\) did not answer: permission denied$/m);
  });

  it('show image: a kernel without initrd boots the disk, a boot file root does not own fails every start', async () => {
    const site = tempSite();
    writeFileSync(join(site.src, 'k.img'), 'x');
    addImage(site.pool, join(site.src, 'k.img'), '');
    copyFileSync(join(site.src, 'k.img'), join(site.pool, 'k.img.vmlinuz'));
    chownSync(join(site.pool, 'k.img.vmlinuz'), 1000, 1000);
    const d = await describeImage(site.pool, 'k.img', null, { root: true });
    expect(d.boots).toBe('disk');
    expect(d.bootFiles.kernel?.problems).toEqual(['is owned by uid 1000, not root: every start with this image fails']);
    expect(d.problems).toContain('has a kernel but no initrd beside it: its VMs boot from the disk (direct kernel boot needs both)');
    expect(d.usedBy).toEqual({ known: false, reason: 'not asked', jobs: [] });
  });

  it('show image: a name that is no pool image is refused in one line with the accepted form and the images there are', async () => {
    const site = tempSite();
    writeFileSync(join(site.src, 'a.img'), 'x');
    addImage(site.pool, join(site.src, 'a.img'), '');
    await expect(describeImage(site.pool, 'b.img', null, { root: false })).rejects.toThrow(expect.objectContaining({ fault: 'job', message: `image b.img: no such image in ${site.pool}; images: a.img` }));
    await expect(describeImage(site.pool, '../etc/passwd', null, { root: false })).rejects.toThrow('image name "../etc/passwd": expected a file name ending .img, .qcow2 or .raw; images: a.img');
  });
});
