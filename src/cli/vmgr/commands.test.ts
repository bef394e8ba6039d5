import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { domainXml, qemuImgCreate, recordJob, removeTempSites, tempSite, type TempSite } from '../../admin/pool/pool.fixture.js';
import { openLibvirt, type LibvirtNode } from '../../engine/index.js';
import { runVmgr, type VmgrIo } from './commands.js';
import { libvirtDomains } from './domains.js';

// test:///default is shared by every connection of this process: domain names unique to this file.
let libvirt: LibvirtNode;
let site: TempSite;
let config: string;

beforeAll(async () => {
  libvirt = await openLibvirt('test:///default');
  site = tempSite();
  config = join(site.root, 'config.yaml');
  writeFileSync(config, `VM_IMG_DIR: ${site.pool}\nSPOOL_DIR: ${site.spool}\nLIBVIRT_URI: "test:///default"\n`);
});
afterAll(async () => {
  await libvirt.close();
  removeTempSites();
});

async function vmgr(argv: string[], euid = 0): Promise<string> {
  let text = '';
  const io: VmgrIo = { out: (s) => void (text += s), euid, env: { VTORQUE_CONFIG: config } };
  await runVmgr(argv, io);
  return text;
}

/** What `vmgr ARGS --help` prints (yargs writes help through console.log). */
async function helpOf(args: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    await runVmgr([...args, '--help'], { out: () => undefined, euid: 0, env: {} });
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

describe('vmgr --help', () => {
  it.each([[[]], [['show']], [['add']], [['update']], [['delete']]])('%j: copyable examples, each "# why" over one vmgr command line using only its options', async (args) => {
    const help = await helpOf(args);
    const lines = help.split('\n');
    const start = lines.indexOf('Examples:');
    expect(start, help).toBeGreaterThan(0);
    const end = lines.findIndex((l, i) => i > start && l.trim() === '');
    const body = lines.slice(start + 1, end < 0 ? undefined : end);
    expect(body.length % 2).toBe(0);
    expect(body.length / 2).toBeGreaterThanOrEqual(2);
    expect(body.length / 2).toBeLessThanOrEqual(4);
    for (let i = 0; i < body.length; i += 2) {
      const [why, command] = [body[i] as string, body[i + 1] as string];
      expect(why).toMatch(/^ {2}# \S/);
      expect(command).toMatch(/^ {2}(sudo )?vmgr (show|add|update|delete) /);
      for (const line of [why, command]) expect(line.length, line).toBeLessThanOrEqual(80);
      const sub = /vmgr (\S+)/.exec(command)?.[1] as string;
      const own = await helpOf([sub]);
      for (const [, option] of command.matchAll(/\s--([a-z][a-z-]*)/g)) expect(own, `${command}: --${option}`).toMatch(new RegExp(`\\n {2}--${option} `));
    }
    if (args[0]) expect(body.some((l) => l.includes(`vmgr ${args[0]} `)), `an example runs vmgr ${args[0]}`).toBe(true);
  });
});

describe('libvirtDomains', () => {
  it("lists libvirt's domains with the XML libvirt reports (backing store and kernel kept)", async () => {
    await libvirt.define(domainXml({ name: 'vtq-cli-1-n1-0', job: 'cli-1.srv', disk: '/spool/jobs/cli-1/vms/0/disk.qcow2', backing: '/pool/x.qcow2', kernel: '/pool/x.qcow2.vmlinuz' }));
    const listed = await libvirtDomains('test:///default').list();
    const d = listed.find((x) => x.name === 'vtq-cli-1-n1-0');
    expect(d?.active).toBe(false);
    expect(d?.xml).toContain("<source file='/pool/x.qcow2'/>");
    expect(d?.xml).toContain('<kernel>/pool/x.qcow2.vmlinuz</kernel>');
    await libvirt.undefine('vtq-cli-1-n1-0');
    await expect(libvirtDomains('nosuchdriver:///x', { openMs: 2000 }).list()).rejects.toThrow();
  });
});

describe.skipIf(process.geteuid?.() !== 0)('vmgr show / add / delete (root; libvirt test driver)', () => {
  it('adds, shows (text and JSON), refuses to delete or replace an image a running job uses, then deletes it', async () => {
    const src = join(site.src, 'deb.qcow2');
    qemuImgCreate(src, 'qcow2', '2G');
    writeFileSync(`${src}.vmlinuz`, 'k');
    writeFileSync(`${src}.initrd`, 'i');
    const added = await vmgr(['add', src, 'Debian 12']);
    expect(added).toMatch(new RegExp(`^added ${site.pool}/deb\\.qcow2\nadded ${site.pool}/deb\\.qcow2\\.vmlinuz\nadded ${site.pool}/deb\\.qcow2\\.initrd\nsha256 [0-9a-f]{64}  deb\\.qcow2\n$`));

    const table = await vmgr(['show', 'images']);
    expect(table).toMatch(/^NAME +FORMAT +VIRTUAL +ON DISK +BACKING +SHA256 +DESCRIPTION\ndeb\.qcow2 +qcow2 +2\.0 GiB +.+ +- +[0-9a-f]{64} +Debian 12\n$/);
    const json = JSON.parse(await vmgr(['show', 'images', '--json'])) as { name: string; format: string; virtualSizeBytes: number; sha256: string }[];
    expect(json.map((i) => [i.name, i.format, i.virtualSizeBytes])).toEqual([['deb.qcow2', 'qcow2', 2 * 1024 ** 3]]);
    expect(added).toContain(json[0]?.sha256);

    // Job 41 runs on this node: its VM's overlay backs on the pool image.
    recordJob(site.spool, '41.srv', ['vtq-41-n1-0'], 'alice');
    await libvirt.define(domainXml({ name: 'vtq-41-n1-0', job: '41.srv', disk: join(site.spool, 'jobs', '41.srv', 'vms', 'vtq-41-n1-0', 'disk.qcow2'), backing: join(site.pool, 'deb.qcow2'), kernel: join(site.pool, 'deb.qcow2.vmlinuz') }));
    await libvirt.start('vtq-41-n1-0');
    try {
      const detail = await vmgr(['show', 'image', 'deb.qcow2']);
      expect(detail).toMatch(/^used by: +job 41\.srv \(VM vtq-41-n1-0 running, owner alice\)$/m);
      expect(detail).toMatch(/^boots: +its kernel and initrd \(direct kernel boot\)$/m);
      const user = JSON.parse(await vmgr(['show', 'image', 'deb.qcow2', '--json'], 1000)) as { usedBy: unknown; addedFrom?: string };
      expect(user.usedBy).toEqual({ known: true, reason: null, jobs: [{ jobId: '41.srv' }] });
      expect(user.addedFrom).toBeUndefined();

      const before = readdirSync(site.pool).sort();
      await expect(vmgr(['delete', 'image', 'deb.qcow2'])).rejects.toThrow(
        expect.objectContaining({ fault: 'job', message: 'image deb.qcow2 is in use on this node by job 41.srv (VM vtq-41-n1-0 running): delete it when they have ended' }),
      );
      await expect(vmgr(['add', src, '--replace'])).rejects.toThrow('image deb.qcow2 is in use on this node by job 41.srv (VM vtq-41-n1-0 running): replace it when they have ended');
      expect(readdirSync(site.pool).sort()).toEqual(before);
    } finally {
      await libvirt.destroy('vtq-41-n1-0');
      await libvirt.undefine('vtq-41-n1-0');
    }
    expect(await vmgr(['add', src, '--replace'])).toMatch(/^added .*deb\.qcow2\n/);
    expect(await vmgr(['delete', 'image', 'deb.qcow2'])).toBe(`deleted deb.qcow2 from ${site.pool}\n`);
    expect(existsSync(join(site.pool, 'deb.qcow2.vmlinuz'))).toBe(false);
    expect(readdirSync(site.pool)).toEqual([]);
  });

  it('refuses in one line: write commands without root, an unknown image, a misspelt command', async () => {
    await expect(vmgr(['add', '/x.qcow2'], 1000)).rejects.toThrow(expect.objectContaining({ code: 'PERMISSION', message: 'vmgr add changes the root-owned image pool: run it as root' }));
    await expect(vmgr(['delete', 'image', 'x.qcow2'], 1000)).rejects.toThrow(expect.objectContaining({ code: 'PERMISSION', message: 'vmgr delete changes the root-owned image pool: run it as root' }));
    await expect(vmgr(['show', 'image', 'nope.qcow2'], 1000)).rejects.toThrow(expect.objectContaining({ fault: 'job', message: `image nope.qcow2: no such image in ${site.pool}; images: (none)` }));
    await expect(vmgr(['show', 'image'])).rejects.toThrow(expect.objectContaining({ code: 'USAGE', exitCode: 2, message: 'show image needs the image: expected vmgr show image NAME (vmgr show images lists them)' }));
    await expect(vmgr(['delete', 'imags', 'x.qcow2'])).rejects.toThrow(expect.objectContaining({ code: 'USAGE', exitCode: 2, message: expect.stringMatching(/^Invalid values: Argument: what, Given: "imags", Choices: "image" \(vmgr --help\)$/) }));
    expect(await vmgr(['show', 'images'])).toBe(`no images in ${site.pool}\n`);
  });
});
