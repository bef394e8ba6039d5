import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeRequestLine } from '../../src/core/contract/job-script.v1.js';
import { parseOwnerMetadata } from '../../src/core/libvirt/index.js';
import type { VmRequest } from '../../src/core/request/types.js';
import { findExecutable } from '../../src/core/exec/which.js';
import { observeNode, openLibvirt, startJobVms, stopJobVms, type LibvirtNode, type NodeState } from '../../src/engine/index.js';
import type { RunLocalResult } from '../../src/torque/run-local/index.js';
import { engineContext, engineSite, leftovers, startInput } from '../engine/engine-harness.js';
import { arpLinesOf, createVmSite, type Leftovers, type VmSite } from '../e2e/helpers/vm-site.js';

// Fault suite: each case injects one fault into a real start or stop and asserts the node ends
// clean and the job gets the right verdict. `leaked` counts what any case left behind (domains,
// files, mounts, ARP entries); a case that fails its assertions does not count as survived.
// In process with libvirt's test driver: disk full, 20 concurrent jobs. Through the installed hooks
// (run-local, as pbs_mom runs them) against a real libvirtd + qemu (TCG) in a sandbox netns, with
// guests that have no OS (firmware finds nothing to boot): fast, and as real as a hang needs.

const t0 = performance.now();
const log = (line: string): void => void process.stderr.write(`[faults +${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const isRoot = process.getuid?.() === 0;
const canSandbox = isRoot && ['virsh', 'qemu-img', 'setpriv', 'useradd', 'ip', 'flock'].every((f) => findExecutable(f) !== null);

/** A uid range no account here uses, for QEMU_USER job-uid. */
const UID_LO = 2_145_000_000;

let survived = 0;
let failed = 0;
let leaked = 0;

/** Run one fault case: it survives when `fn` passes; everything `fn` reports left over is leaked. */
async function fault(fn: () => Promise<number>): Promise<void> {
  try {
    const left = await fn();
    leaked += left;
    expect(left, 'items left behind').toBe(0);
    survived += 1;
  } catch (err) {
    failed += 1;
    throw err;
  }
}

afterAll(() => {
  // Exactly one `faults:` line; the cases that did not survive are vitest's failures above it.
  process.stdout.write(`faults: ${survived} survived, ${leaked} leaked\n`);
  if (failed > 0) process.stderr.write(`${failed} fault case(s) did not survive\n`);
});

describe.skipIf(!isRoot)('faults with the test driver (in process)', () => {
  let lv: LibvirtNode;
  beforeAll(async () => {
    lv = await openLibvirt('test:///default');
  });
  afterAll(async () => {
    await lv.close();
  });

  it('disk full while creating the overlay: the start fails naming the disk, nothing is left, the node works again once there is room', async () => {
    await fault(async () => {
      const { config, baseImage, root } = engineSite();
      // A 2 MiB tmpfs as the spool, filled up but for a few KiB: the overlay cannot be written.
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', config.SPOOL_DIR]);
      try {
        const filler = join(config.SPOOL_DIR, 'filler');
        spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=600'], { stdio: 'ignore' });
        const lines: string[] = [];
        const ctx = engineContext(config, lv, (l) => lines.push(l));
        const jobId = `df${process.pid}.srv`;
        const err = await startJobVms(startInput(jobId, baseImage, { vms_per_node: 2 }), ctx).then(
          () => null,
          (e: unknown) => e as Error,
        );
        expect(err, 'the start must fail').not.toBeNull();
        expect(String(err?.message)).toMatch(/No space left|ENOSPC/);
        expect(lines.join('\n')).toMatch(/start failed after .*tearing down/);
        const leftAfterFault = (await leftovers(lv, config, jobId)).length;
        rmSync(filler);
        const started = await startJobVms(startInput(jobId, baseImage, { vms_per_node: 2 }), ctx);
        expect(started.vms).toHaveLength(2);
        await stopJobVms(jobId, ctx, { keepLogs: false });
        return leftAfterFault + (await leftovers(lv, config, jobId)).length;
      } finally {
        execFileSync('umount', [config.SPOOL_DIR]);
        rmSync(root, { recursive: true, force: true });
      }
    });
  });

  it('20 concurrent jobs x 2 VMs on one node: distinct MACs, disjoint pinned CPUs, each teardown removes only its own job', async () => {
    await fault(async () => {
      // qemu as a dedicated uid per job (QEMU_USER job-uid): the 20 jobs must get 20 distinct uids.
      const { config, baseImage, root } = engineSite({ MAX_VMS_PER_NODE: 64, QEMU_USER: 'job-uid', QEMU_UIDS: `${UID_LO}-${UID_LO + 999}` });
      try {
        const ctx = engineContext(config, lv);
        const capacity = { cores: 48, memMiB: 262_144, numa: { 0: [...Array(48).keys()] } };
        const observe = { name: 'node01', observe: (): Promise<NodeState> => observeNode('node01', capacity, lv) };
        const ids = Array.from({ length: 20 }, (_, i) => `${1000 + i}.c${process.pid}`);
        const t = performance.now();
        const started = await Promise.all(ids.map((id) => startJobVms({ ...startInput(id, baseImage, { vms_per_node: 2, vcpus: 1 }), nodes: observe }, ctx)));
        log(`20 jobs x 2 VMs started concurrently in ${Math.round(performance.now() - t)} ms`);
        const ours = async (): Promise<{ name: string; job: string; macs: string[]; cpus: string[]; uid: number }[]> => {
          const out = [];
          for (const { name } of await lv.listDomains()) {
            const xml = await lv.xmlOf(name);
            const job = parseOwnerMetadata(xml)?.job;
            if (!job || !ids.includes(job)) continue;
            out.push({
              name,
              job,
              macs: [...xml.matchAll(/<mac address='([^']+)'/g)].map((m) => m[1] as string),
              cpus: [...xml.matchAll(/<vcpupin [^>]*cpuset='([^']+)'/g)].map((m) => m[1] as string),
              uid: Number(/<label>\+(\d+):\+\d+<\/label>/.exec(xml)?.[1] ?? NaN),
            });
          }
          return out;
        };
        const all = await ours();
        expect(all).toHaveLength(40);
        expect(started.flatMap((s) => s.vms)).toHaveLength(40);
        const macs = all.flatMap((d) => d.macs);
        expect(new Set(macs).size, 'every MAC distinct').toBe(40);
        const cpus = all.flatMap((d) => d.cpus);
        expect(cpus).toHaveLength(40);
        expect(new Set(cpus).size, 'no two VMs pinned to one CPU').toBe(40);
        const uidOf = new Map<string, Set<number>>();
        for (const d of all) uidOf.set(d.job, (uidOf.get(d.job) ?? new Set()).add(d.uid));
        expect([...uidOf.values()].every((u) => u.size === 1), 'one qemu uid per job').toBe(true);
        const uids = [...uidOf.values()].map((u) => [...u][0] as number);
        expect(new Set(uids).size, 'no two jobs share a qemu uid').toBe(20);
        expect(uids.every((u) => u >= UID_LO && u < UID_LO + 20), 'the lowest free uids of the range').toBe(true);
        // Half the jobs end at once; the other half must be untouched.
        const [ending, staying] = [ids.filter((_, i) => i % 2 === 0), ids.filter((_, i) => i % 2 === 1)];
        await Promise.all(ending.map((id) => stopJobVms(id, ctx, { keepLogs: false })));
        const after = await ours();
        expect(after.map((d) => d.job).sort()).toEqual(staying.flatMap((id) => [id, id]).sort());
        for (const d of after) expect(await lv.state(d.name)).toBe('running');
        await Promise.all(staying.map((id) => stopJobVms(id, ctx, { keepLogs: false })));
        let left = 0;
        for (const id of ids) left += (await leftovers(lv, config, id)).length;
        return left;
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
});

// ------------------------------------------------------------------------------------------------
// Through the installed hooks, real libvirtd + qemu in the sandbox netns `vtqfault`.

const NS = 'vtqfault';
const GUEST_NS = 'vtqfault-g';
const SUBNET = '10.213.30';
const BRIDGE = 'vtqfaultbr0';
const FAKE_IP = `${SUBNET}.50`;
const BLANK = 'blank.qcow2';
const JOB_ARGS = ['-vm', `img=${BLANK},distro=debian,vcpus=1,ram=256M`];

/** The request a forged .SC line carries, before the case's changes. */
const hostileBase: VmRequest = {
  version: 1, img: BLANK, distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 256, vms_per_node: 1,
  vcpu_pinning: false, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};

const site: VmSite = createVmSite({
  name: NS,
  network: { name: 'vtq-fault-net', bridge: BRIDGE, subnet: SUBNET },
  root: process.env.VTQ_TEST_FAULTS_DIR ?? '/var/tmp/vtorque-faults',
  user: 'vtqe2e',
  log,
  image: false,
});

/** Every leftover item of the lists a job can leave; attempt counters only where the job left the requeue loop. */
function count(left: Leftovers, opts: { counters: boolean }): number {
  const items = Object.entries(left).filter(([k, v]) => (v as string[]).length > 0 && (opts.counters || k !== 'attemptCounters'));
  if (items.length > 0) log(`left behind: ${JSON.stringify(Object.fromEntries(items))}`);
  return left.domains.length + left.jobDirs.length + left.mounts.length + left.torqueFiles.length + left.arp.length + left.cancelMarkers.length + left.records.length + (opts.counters ? left.attemptCounters.length : 0);
}

function report(what: string, r: RunLocalResult): void {
  log(`${what}: ${r.jobId} verdict ${r.verdict}, exit ${r.exitStatus}; prologue rc ${JSON.stringify(r.attempts.map((a) => a.prologueRc))} in ${JSON.stringify(r.hooks.filter((h) => h.hook === 'prologue').map((h) => h.ms))} ms`);
  for (const line of r.stdout.split('\n').filter(Boolean)) log(`  OU| ${line}`);
  // qemu's own words when it died at start (the sandbox libvirtd keeps them in its log dir).
  if (r.stdout.includes('qemu unexpectedly closed')) {
    for (const dom of new Set([...r.stdout.matchAll(/(vtq-[A-Za-z0-9._-]+)/g)].map((m) => m[1] as string))) {
      const file = `/var/lib/vtorque/sandbox/${NS}/log/qemu/${dom}.log`;
      if (existsSync(file)) for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(-6)) log(`  qemu ${dom}| ${line}`);
    }
  }
}

async function ourDomains(): Promise<string[]> {
  return (await site.virsh(['list', '--all', '--name'])).split('\n').map((l) => l.trim()).filter((l) => l.startsWith('vtq-'));
}

/** Resolves with the first `vtq-` domain once it is running (polling virsh), or null after `ms`. */
async function firstRunningDomain(ms: number): Promise<string | null> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const running = (await site.virsh(['list', '--name']).catch(() => '')).split('\n').map((l) => l.trim()).filter((l) => l.startsWith('vtq-'));
    if (running[0]) return running[0];
    await sleep(200);
  }
  return null;
}

function ipIn(ns: string, args: readonly string[]): void {
  execFileSync('ip', ['-n', ns, ...args], { stdio: 'pipe' });
}

/** The fake guest's link: a veth on the sandbox bridge carrying the VM's MAC, in a netns of its own, no address yet. */
function fakeGuestLink(mac: string): void {
  execFileSync('ip', ['netns', 'add', GUEST_NS]);
  ipIn(NS, ['link', 'add', 'vtqfg0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GUEST_NS]);
  ipIn(NS, ['link', 'set', 'vtqfg0', 'master', BRIDGE, 'up']);
  ipIn(GUEST_NS, ['link', 'set', 'lo', 'up']);
  ipIn(GUEST_NS, ['link', 'set', 'eth0', 'address', mac, 'up']);
  // On-link default route: the DHCP client's broadcasts leave through eth0 before it has an address.
  ipIn(GUEST_NS, ['route', 'add', 'default', 'dev', 'eth0']);
}

/** The fake guest takes `ip` and announces itself until the host's neighbour table has it. Port 22 stays closed. */
async function fakeGuestAddress(ip: string): Promise<void> {
  ipIn(GUEST_NS, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  // No ping on a minimal host: a TCP connect to the bridge address makes the guest ARP for it.
  // The bridge runs STP: its new port forwards only after ~2 s, so say hello until the host knows us.
  const hello = `const s=require('net').connect(9,'${SUBNET}.1');s.on('error',()=>process.exit(0));setTimeout(()=>process.exit(0),1000)`;
  const known = async (): Promise<boolean> => arpLinesOf(await site.arpTable(), [ip]).some((l) => !/\s0x0\s/.test(l));
  for (let i = 0; i < 10 && !(await known()); i++) {
    spawnSync('ip', ['netns', 'exec', GUEST_NS, process.execPath, '-e', hello], { stdio: 'ignore' });
  }
}

/** The fake guest gives up every address (as a destroyed guest does): nothing answers at them any more. */
function fakeGuestDrop(): void {
  ipIn(GUEST_NS, ['addr', 'flush', 'dev', 'eth0']);
  // The kernel drops the device's routes with its last address: the DHCP client needs its own back.
  ipIn(GUEST_NS, ['route', 'replace', 'default', 'dev', 'eth0']);
}

/**
 * A DHCP client (DISCOVER, OFFER, REQUEST, ACK, with the broadcast flag) for the fake guest:
 * argv MAC CLIENT-ID. dnsmasq keeps one lease per client id, so a new id gets another address
 * for the same MAC while the old lease stays unexpired: what a new boot with a new machine-id does.
 */
const DHCP_CLIENT = `
const dgram = require('dgram');
const [mac, clid] = process.argv.slice(-2);
const hw = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
const xid = require('crypto').randomBytes(4);
const id = Buffer.concat([Buffer.from([0]), Buffer.from(clid)]);
const pkt = (type, extra) => {
  const b = Buffer.alloc(240);
  b[0] = 1; b[1] = 1; b[2] = 6; xid.copy(b, 4); b.writeUInt16BE(0x8000, 10); hw.copy(b, 28); b.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([b, Buffer.from([53, 1, type, 61, id.length, ...id, 55, 2, 1, 3, ...extra, 255]), Buffer.alloc(60)]);
};
const opt = (m, code) => { for (let i = 240; i < m.length && m[i] !== 255; ) { if (m[i] === 0) { i++; continue; } if (m[i] === code) return m.subarray(i + 2, i + 2 + m[i + 1]); i += 2 + m[i + 1]; } return null; };
const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
let state = 'discover'; let timer;
const send = (b) => s.send(b, 67, '255.255.255.255');
s.on('message', (m) => {
  if (m[0] !== 2 || !m.subarray(4, 8).equals(xid)) return;
  const type = opt(m, 53)?.[0]; const yi = m.subarray(16, 20); const server = opt(m, 54);
  if (state === 'discover' && type === 2 && server) { state = 'request'; send(pkt(3, [50, 4, ...yi, 54, 4, ...server])); }
  else if (state === 'request' && type === 5) { process.stdout.write([...yi].join('.') + '\\n'); clearInterval(timer); s.close(); }
  else if (type === 6) { process.stderr.write('DHCPNAK\\n'); process.exit(3); }
});
s.bind(68, () => { s.setBroadcast(true); send(pkt(1, [])); timer = setInterval(() => state === 'discover' && send(pkt(1, [])), 2000); });
setTimeout(() => { process.stderr.write('no lease within 20 s\\n'); process.exit(2); }, 20000).unref();
`;

/** A DHCP lease for the fake guest from the sandbox network's dnsmasq, under `clientId`; its address. */
function fakeGuestDhcp(mac: string, clientId: string): string {
  const r = spawnSync('ip', ['netns', 'exec', GUEST_NS, process.execPath, '-e', DHCP_CLIENT, mac, clientId], { encoding: 'utf8', timeout: 30_000 });
  const ip = r.stdout.trim();
  if (r.status !== 0 || !/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`fake guest DHCP (${clientId}) failed: ${r.status} ${r.stderr}`);
  log(`fake guest ${mac} got ${ip} by DHCP (client id ${clientId})`);
  return ip;
}

/**
 * A "guest" that has an address but no SSH: a veth on the sandbox bridge carrying the VM's MAC,
 * in a netns of its own, announcing itself (the host learns its ARP entry). Port 22 is closed.
 */
async function fakeGuestWithoutSsh(mac: string): Promise<void> {
  fakeGuestLink(mac);
  await fakeGuestAddress(FAKE_IP);
}

/** Resolves once domain `name` is running (`true`) or gone / not running (`false`), polling virsh; false if not within `ms`. */
async function domainIs(name: string, running: boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const list = (await site.virsh(['list', '--name']).catch(() => '')).split('\n').map((l) => l.trim());
    if (list.includes(name) === running) return true;
    await sleep(200);
  }
  return false;
}

/** The prologue's JSON log lines of one job (LOG_DIR/prologue.log). */
function prologueLog(jobId?: string): { msg?: string; jobId?: string; ip?: string; source?: string; vm?: string; [k: string]: unknown }[] {
  const file = join(site.opts.root, 'log', 'prologue.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).flatMap((l) => {
    try {
      const e = JSON.parse(l) as { jobId?: string };
      return jobId === undefined || e.jobId === jobId ? [e] : [];
    } catch {
      return [];
    }
  });
}

/** The MAC of a domain's (first) interface. */
async function macOf(dom: string): Promise<string> {
  return /<mac address='([^']+)'/.exec(await site.virsh(['dumpxml', dom]))?.[1] as string;
}

function removeFakeGuest(): void {
  spawnSync('ip', ['netns', 'del', GUEST_NS], { stdio: 'ignore' });
}

describe.skipIf(!canSandbox)('faults through the installed hooks, real libvirtd + qemu in a sandbox', () => {
  beforeAll(async () => {
    removeFakeGuest();
    await site.open();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(site.poolDir, BLANK), '1G']);
    site.writeUserFile('job.sh', '#!/bin/sh\n#PBS -N fault\necho "JOB must not run"\n', 0o755);
    log(`site ready: ${site.uri}`);
  }, 5 * 60_000);

  afterAll(async () => {
    removeFakeGuest();
    await site.close();
  }, 5 * 60_000);

  it('a VM that never gets an IP: each start fails within its deadline, the 3rd node fault aborts with the reason, nothing is left', async () => {
    await fault(async () => {
      // qemu runs as a dedicated uid of QEMU_UIDS here (QEMU_USER job-uid).
      site.configure({ TIMEOUT: 12, PROLOGUE_TIMEOUT: 12, QEMU_USER: 'job-uid', QEMU_UIDS: `${UID_LO}-${UID_LO + 99}` });
      const job = site.runJob([...JOB_ARGS, 'job.sh']);
      const dom = await firstRunningDomain(15_000);
      expect(dom, 'the VM started').not.toBeNull();
      const uids = qemuUids(dom as string);
      const r = await job;
      expect(uids, 'qemu runs as the job\'s own uid').toEqual([UID_LO]);
      report('no IP', r);
      // The 3rd node fault ends the job: it runs only to say why (exit 69), as Torque delivers that.
      expect(r.verdict).toBe('run');
      expect(r.exitStatus).toBe(69);
      expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 2, 0]);
      for (const h of r.hooks.filter((x) => x.hook === 'prologue')) expect(h.ms).toBeLessThan(30_000);
      expect(r.stdout).toMatch(/failed to start on this node 3 times \(last: no IP address after/);
      expect(r.stderr).toMatch(/^vTorque: the VMs failed to start on this node 3 times/);
      expect(r.stdout).not.toContain('JOB must not run');
      return count(await site.leftovers(), { counters: true });
    });
  });

  it('SSH never up: the VM has an address but port 22 stays closed; the start fails at the SSH deadline and its ARP entry goes too', async () => {
    await fault(async () => {
      // This case also runs qemu as the job owner (QEMU_USER: owner): the process must be the owner's.
      site.configure({ TIMEOUT: 20, PROLOGUE_TIMEOUT: 20, QEMU_USER: 'owner' });
      const job = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1 });
      const dom = await firstRunningDomain(15_000);
      expect(dom, 'the VM started').not.toBeNull();
      const ownerUid = Number(execFileSync('id', ['-u', 'vtqe2e'], { encoding: 'utf8' }).trim());
      expect(qemuUids(dom as string), 'qemu runs as the job owner').toEqual([ownerUid]);
      const mac = /<mac address='([^']+)'/.exec(await site.virsh(['dumpxml', dom as string]))?.[1] as string;
      await fakeGuestWithoutSsh(mac);
      const arpDuring = (await site.arpTable()).includes(FAKE_IP);
      const r = await job;
      report('no SSH', r);
      removeFakeGuest();
      expect(arpDuring, 'the fake guest was in the ARP table').toBe(true);
      expect(r.attempts.map((a) => a.prologueRc)).toEqual([2]);
      expect(r.stdout).toMatch(new RegExp(`addresses: ${dom}=${FAKE_IP.replace(/\./g, '\\.')}`));
      expect(r.stdout).toMatch(/SSH/);
      expect(r.stdout).not.toContain('JOB must not run');
      return count(await site.leftovers([FAKE_IP]), { counters: false });
    });
  });

  /**
   * One boot of the fake guest behind a VM's MAC: a DHCP lease under `clientId`, the address taken
   * and announced, port 22 closed (the start fails at its SSH quiet limit). Resolves with the address.
   */
  async function fakeBoot(dom: string, clientId: string, opts: { delayMs?: number; notUuid?: string } = {}): Promise<{ mac: string; ip: string; uuid: string }> {
    // A requeued start defines the domain anew under the same name: a new UUID tells its boot.
    const until = performance.now() + 60_000;
    let uuid = '';
    while (performance.now() < until) {
      uuid = (await domainIs(dom, true, 1000)) ? (await site.virsh(['domuuid', dom]).catch(() => '')).trim() : '';
      if (uuid !== '' && uuid !== opts.notUuid) break;
      await sleep(200);
    }
    expect(uuid !== '' && uuid !== opts.notUuid, `${dom} started anew (${clientId})`).toBe(true);
    const mac = await macOf(dom);
    if (!existsSync(`/run/netns/${GUEST_NS}`)) fakeGuestLink(mac);
    // The old code took the earlier boot's unexpired lease within 2 s: give it that chance.
    if (opts.delayMs) await sleep(opts.delayMs);
    const ip = fakeGuestDhcp(mac, clientId);
    await fakeGuestAddress(ip);
    return { mac, ip, uuid };
  }

  /** The addresses the start took, in order, from the prologue's log ('VM address found'). */
  const addressesTaken = (jobId: string): string[] => prologueLog(jobId).filter((e) => e.msg === 'VM address found').map((e) => `${e.ip} (${e.source})`);

  it('a requeued start (same MAC) never takes the first boot\'s address: its unexpired lease is ignored, the new boot\'s lease is used', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 15, PROLOGUE_TIMEOUT: 45 });
      removeFakeGuest();
      const job = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 2 });
      try {
        const dom = await firstRunningDomain(20_000);
        expect(dom, 'the VM started').not.toBeNull();
        const first = await fakeBoot(dom as string, 'boot-1');
        // The first start fails (no SSH), tears down, and is requeued at once with the same domain name and MAC.
        const gone = performance.now() + 60_000;
        while (performance.now() < gone && (await site.virsh(['domuuid', dom as string]).catch(() => '')).trim() === first.uuid) await sleep(200);
        fakeGuestDrop(); // the first boot's guest is gone; its lease is not
        const second = await fakeBoot(dom as string, 'boot-2', { delayMs: 6000, notUuid: first.uuid });
        expect(second.mac).toBe(first.mac);
        expect(second.ip, 'dnsmasq gave the second boot another address').not.toBe(first.ip);
        const r = await job;
        report('requeue, same MAC', r);
        expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 2]);
        const taken = addressesTaken(r.jobId);
        log(`requeue: addresses taken ${JSON.stringify(taken)}; first boot ${first.ip}, second ${second.ip}`);
        expect(taken.map((t) => t.split(' ')[0])).toEqual([first.ip, second.ip]);
        // The delivered output is the requeued start's: its address is the new boot's.
        expect(r.stdout).toMatch(new RegExp(`addresses: ${dom}=${second.ip.replace(/\./g, '\\.')}[,;]`));
        expect(r.stdout).not.toContain(`=${first.ip}`);
        expect(prologueLog(r.jobId).some((e) => e.msg === 'DHCP lease from before this boot ignored' && e.ip === first.ip), 'the stale lease was seen and ignored').toBe(true);
        expect(r.stdout).toMatch(/no sign of life for/);
        return count(await site.leftovers([first.ip, second.ip]), { counters: false });
      } finally {
        await job.catch(() => undefined);
        removeFakeGuest();
      }
    });
  });

  it('the same job started twice in a row (same id, same MAC): the second start never takes the first one\'s address', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 15, PROLOGUE_TIMEOUT: 45 });
      removeFakeGuest();
      const seqFile = join(site.spoolDir, 'run-local', 'seq');
      const runOnce = async (clientId: string, delayMs: number): Promise<{ r: RunLocalResult; boot: { mac: string; ip: string; uuid: string } }> => {
        const job = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1 });
        try {
          const dom = await firstRunningDomain(20_000);
          expect(dom, 'the VM started').not.toBeNull();
          const boot = await fakeBoot(dom as string, clientId, { delayMs });
          return { r: await job, boot };
        } finally {
          await job.catch(() => undefined);
        }
      };
      try {
        const one = await runOnce('run-1', 0);
        report('same job, first start', one.r);
        fakeGuestDrop();
        // run-local numbers jobs from its seq file: set it back, so the next job is this job again.
        writeFileSync(seqFile, `${Number(one.r.jobId.split('.')[0]) - 1}\n`, { mode: 0o600 });
        const two = await runOnce('run-2', 6000);
        report('same job, second start', two.r);
        expect(two.r.jobId).toBe(one.r.jobId);
        expect(two.boot.mac).toBe(one.boot.mac);
        expect(two.boot.ip).not.toBe(one.boot.ip);
        expect(one.r.stdout).toContain(`=${one.boot.ip}`);
        expect(two.r.stdout).toContain(`=${two.boot.ip}`);
        expect(two.r.stdout).not.toContain(`=${one.boot.ip}`);
        expect(addressesTaken(one.r.jobId).map((t) => t.split(' ')[0])).toEqual([one.boot.ip, two.boot.ip]);
        return count(await site.leftovers([one.boot.ip, two.boot.ip]), { counters: false });
      } finally {
        removeFakeGuest();
      }
    });
  });

  it('SSH answers only "host unreachable": the address is resolved again, and the new one is used', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 20, PROLOGUE_TIMEOUT: 60 });
      removeFakeGuest();
      const job = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1 });
      try {
        const dom = await firstRunningDomain(20_000);
        expect(dom, 'the VM started').not.toBeNull();
        const mac = await macOf(dom as string);
        fakeGuestLink(mac);
        // A lease of this boot whose address nothing holds (the guest never takes it): SSH gets EHOSTUNREACH.
        const lost = fakeGuestDhcp(mac, 'gone');
        const until = performance.now() + 45_000;
        while (performance.now() < until && !prologueLog().some((e) => e.msg === 'address unreachable; resolving it again' && e.ip === lost)) await sleep(200);
        const found = fakeGuestDhcp(mac, 'here');
        await fakeGuestAddress(found);
        const r = await job;
        report('host unreachable', r);
        expect(found).not.toBe(lost);
        expect(addressesTaken(r.jobId)).toEqual([`${lost} (lease)`, expect.stringMatching(new RegExp(`^${found.replace(/\./g, '\\.')} `))]);
        expect(r.stdout).toMatch(new RegExp(`addresses: ${dom}=${lost.replace(/\./g, '\\.')}`));
        expect(r.stdout).toMatch(new RegExp(`${lost.replace(/\./g, '\\.')} answered "host unreachable" \\(EHOSTUNREACH\\) to \\d+ attempt\\(s\\) over [\\d.]+ s; finding its address again`));
        expect(r.stdout).toMatch(new RegExp(`${dom}: address ${found.replace(/\./g, '\\.')}; waiting for SSH`));
        expect(r.attempts.map((a) => a.prologueRc)).toEqual([2]);
        return count(await site.leftovers([lost, found]), { counters: false });
      } finally {
        await job.catch(() => undefined);
        removeFakeGuest();
      }
    });
  });

  it('libvirtd restarted mid-boot: the prologue reconnects, tears its VM down and asks for a requeue; nothing is left', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 25, PROLOGUE_TIMEOUT: 25 });
      const job = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1 });
      const dom = await firstRunningDomain(15_000);
      expect(dom, 'the VM started').not.toBeNull();
      const { oldPid, newPid } = await site.restartLibvirtd();
      log(`libvirtd restarted: pid ${oldPid} -> ${newPid}; ${dom} ${(await ourDomains()).includes(dom as string) ? 'still defined' : 'gone'}`);
      const r = await job;
      report('libvirtd restart', r);
      expect(newPid).not.toBe(oldPid);
      expect(r.attempts.map((a) => a.prologueRc)).toEqual([2]);
      expect(r.stdout).toMatch(/no IP address after/);
      const logText = readLogs();
      expect(logText, 'the hook reconnected').toMatch(/libvirt connection (lost|reopened)/);
      return count(await site.leftovers(), { counters: false });
    });
  });

  it('the prologue killed at its alarm: the epilogue still removes the VM and its files', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 60, PROLOGUE_TIMEOUT: 60 });
      // $prologalarm 15 → pbs_mom kills the prologue session at 5 s, mid-boot.
      const r = await site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1, prologalarm: 15 });
      report('alarm', r);
      const pro = r.hooks.find((h) => h.hook === 'prologue');
      expect(pro?.rc).toBe(-4);
      expect(r.hooks.some((h) => h.hook === 'epilogue')).toBe(true);
      expect(r.stdout).not.toContain('JOB must not run');
      return count(await site.leftovers(), { counters: false });
    });
  });

  /** A node crash: the prologue dies at its alarm and no epilogue ever runs (the epilogue is swapped for a no-op). */
  async function crashedJob(): Promise<{ job: string; domains: string[] }> {
    const epilogue = join(site.momPriv, 'epilogue');
    renameSync(epilogue, `${epilogue}.faults-saved`);
    writeFileSync(epilogue, '#!/bin/sh\nexit 0\n', { mode: 0o700 });
    try {
      const r = await site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1, prologalarm: 15 });
      report('crash', r);
      return { job: r.jobId, domains: await ourDomains() };
    } finally {
      rmSync(epilogue);
      renameSync(`${epilogue}.faults-saved`, epilogue);
    }
  }

  it('a node "crash" before the epilogue: `vtorque gc` reaps the orphaned VM and files (a dry run first changes nothing)', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 60, PROLOGUE_TIMEOUT: 60 });
      const { job, domains } = await crashedJob();
      expect(domains, 'the crash left the VM').toHaveLength(1);
      expect((await site.leftovers()).jobDirs).toHaveLength(1);
      const gc = (args: string[]): { status: number | null; stdout: string } => {
        const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, join(site.prefix, 'lib', 'vtorque', 'dist', 'vtorque.mjs'), 'gc', '--config', site.configPath, ...args], { encoding: 'utf8' });
        log(`gc ${args.join(' ')} -> ${r.status}: ${r.stdout.trim()} ${r.stderr.trim()}`);
        return { status: r.status, stdout: r.stdout };
      };
      const dry = gc(['--dry-run']);
      expect(dry.status).toBe(0);
      expect(dry.stdout).toContain(`job ${job}: would reap`);
      expect(await ourDomains()).toEqual(domains);
      const real = gc([]);
      expect(real.status).toBe(0);
      expect(real.stdout).toMatch(new RegExp(`job ${job.replace(/\./g, '\\.')}: reaped .*: 1 domain\\(s\\)`));
      expect(gc([]).stdout).toContain('nothing to reap');
      return count(await site.leftovers(), { counters: false });
    });
  });

  it('a node "crash" before the epilogue: the next VM prologue reaps the orphan first', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 60, PROLOGUE_TIMEOUT: 60 });
      const { domains } = await crashedJob();
      expect(domains).toHaveLength(1);
      site.configure({ TIMEOUT: 10, PROLOGUE_TIMEOUT: 10 });
      const next = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1 });
      const r = await next;
      report('next prologue', r);
      expect(r.stdout).toMatch(/reaped the leftovers of 1 finished job\(s\)/);
      expect(await ourDomains()).not.toContain(domains[0]);
      return count(await site.leftovers(), { counters: false });
    });
  });

  /** A root-owned component command that appends `<name> <phase> <env>` to a log (the admin's IOCM/VRDMA/SNAP commands). */
  function componentSite(extra: Record<string, unknown> = {}): string {
    const logFile = join(site.opts.root, 'components.log');
    const script = join(site.opts.root, 'component.sh');
    writeFileSync(script, `#!/bin/sh\necho "$1 $VTORQUE_PHASE job=$VTORQUE_JOB_ID min=$VTORQUE_IOCM_MIN_CORES max=$VTORQUE_IOCM_MAX_CORES" >> '${logFile}'\n`, { mode: 0o755 });
    rmSync(logFile, { force: true });
    site.configure({
      TIMEOUT: 60, PROLOGUE_TIMEOUT: 60,
      IOCM_ENABLED: true, IOCM_MIN_CORES: 1, IOCM_MAX_CORES: 4, IOCM_START_CMD: [script, 'iocm'], IOCM_STOP_CMD: [script, 'iocm'],
      VRDMA_ENABLED: true, VRDMA_START_CMD: [script, 'vrdma'], VRDMA_STOP_CMD: [script, 'vrdma'],
      ...extra,
    });
    return logFile;
  }

  it('a hostile .SC at the epilogue (8 GiB sparse first line; a forged request with components off, debug on, IOcm cores out of range): teardown complete from root\'s record, components stopped with the prologue\'s values, nothing kept, well inside the alarm', async () => {
    await fault(async () => {
      const logFile = componentSite();
      // The owner rewrites the job script before the epilogue (Torque chowned it to him at job start).
      const forged = encodeRequestLine({ ...hostileBase, iocm: false, vrdma: false, debug: true, iocm_min_cores: 9999, iocm_max_cores: 99999 });
      site.siteHook('epilogue', `sc="\${11}"; printf '#!/bin/sh ' > "$sc"; truncate -s 8G "$sc"; printf '\\n%s\\n' '${forged}' >> "$sc"`);
      try {
        // The prologue is killed at its alarm mid-boot (VM running, components started): only the record knows.
        const r = await site.runJob([...JOB_ARGS.slice(0, 1), `${JOB_ARGS[1]},iocm=true,vrdma=true,iocm_min_cores=1,iocm_max_cores=1`, 'job.sh'], { maxStarts: 1, prologalarm: 15 });
        report('hostile .SC', r);
        expect(r.hooks.find((h) => h.hook === 'prologue')?.rc).toBe(-4);
        const epi = r.hooks.find((h) => h.hook === 'epilogue');
        expect(epi?.rc).toBe(0);
        expect(epi?.ms, 'the epilogue ends well inside its alarm').toBeLessThan(3000);
        const lines = readFileSync(logFile, 'utf8').trim().split('\n');
        expect(lines.filter((l) => l.includes(' start '))).toEqual([`vrdma start job=${r.jobId} min= max=`, `iocm start job=${r.jobId} min=1 max=1`]);
        expect(lines.filter((l) => l.includes(' stop '))).toEqual([`iocm stop job=${r.jobId} min=1 max=1`, `vrdma stop job=${r.jobId} min= max=`]);
        expect(r.stdout).toMatch(/1 VM\(s\) of job .* torn down/);
        // debug was off at the start: no console log kept (the job dir is counted below).
        return count(await site.leftovers(), { counters: false });
      } finally {
        site.siteHook('epilogue', null);
      }
    });
  });

  it('a node tool missing (genisoimage, cloud-localds): a node fault with a node-side message, requeued 2, 2, then aborted; nothing is left', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 30, PROLOGUE_TIMEOUT: 30 });
      // pbs_mom's environment (TORQUE_HOME/pbs_environment) with a PATH that lacks the seed tools.
      const bin = join(site.opts.root, 'bin-without-seed-tools');
      rmSync(bin, { recursive: true, force: true });
      execFileSync('mkdir', ['-p', bin]);
      for (const f of readdirSync('/usr/bin')) if (!['genisoimage', 'cloud-localds', 'mkisofs', 'xorriso'].includes(f)) symlinkSync(join('/usr/bin', f), join(bin, f));
      const envFile = join(site.torqueHome, 'pbs_environment');
      writeFileSync(envFile, `LANG=C.UTF-8\nPATH=${bin}\n`);
      try {
        const r = await site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 5 });
        report('missing tool', r);
        expect(r.attempts.map((a) => a.prologueRc)).toEqual([2, 2, 0]);
        expect(r.exitStatus).toBe(69);
        expect(r.stdout).toMatch(/genisoimage \(Debian package genisoimage\)/);
        expect(r.stdout).toMatch(/problem of the node, not of the job|failed to start on this node 3 times/);
        expect(r.stdout).not.toContain('JOB must not run');
        const left = await site.leftovers();
        expect(left.attemptCounters, 'the aborted job\'s node-fault counter is gone').not.toContain(r.jobId);
        return count(left, { counters: false });
      } finally {
        rmSync(envFile, { force: true });
        rmSync(bin, { recursive: true, force: true });
      }
    });
  });

  it('a cancel marker another user planted for the job\'s id (an older sticky cancel dir): ignored, the job boots; the owner\'s own qdel during the boot still tears down', async () => {
    await fault(async () => {
      site.configure({ TIMEOUT: 40, PROLOGUE_TIMEOUT: 40 });
      const cancelDir = join(site.spoolDir, 'cancel');
      execFileSync('mkdir', ['-p', '-m', '1733', cancelDir]);
      execFileSync('chmod', ['1733', cancelDir]);
      // The next run-local job id, as another user can predict it; planted as nobody: a directory
      // with a marker, and a symlink to the victim's own file for the one after.
      const seqFile = join(site.spoolDir, 'run-local', 'seq');
      const next = (existsSync(seqFile) ? Number(readFileSync(seqFile, 'utf8').trim()) : 0) + 1;
      const host = execFileSync('hostname', ['-s'], { encoding: 'utf8' }).trim();
      const jobId = `${next}.${host}`;
      const asNobody = (args: string[]): number | null => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...args]).status;
      expect(asNobody(['mkdir', '-p', join(cancelDir, jobId, 'requested')])).toBe(0);
      const job = site.runJob([...JOB_ARGS, 'job.sh'], { maxStarts: 1, cancelAfter: 12 });
      const dom = await firstRunningDomain(12_000);
      const r = await job;
      report('planted marker', r);
      expect(r.jobId).toBe(jobId);
      expect(dom, 'the VM started: the planted marker was ignored').not.toBeNull();
      expect(r.stdout).toContain('the job was cancelled while its VMs were booting');
      // The cancel is the owner's: recorded as such for the job, whose body pbs_mom never starts.
      expect(r.hooks.find((h) => h.hook === 'prologue')?.rc).toBe(0);
      expect(r.canceled).toBe(true);
      expect(r.exitStatus).toBe(271);
      expect(execFileSync('stat', ['-c', '%a %u', cancelDir], { encoding: 'utf8' }).trim()).toBe('711 0');
      return count(await site.leftovers(), { counters: false });
    });
  });

});

/** Real uids of the qemu processes running `guest=<name>`. */
function qemuUids(name: string): number[] {
  const uids: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!cmd[0]?.includes('qemu-system') || !cmd.some((a) => a.startsWith(`guest=${name},`))) continue;
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (uid !== undefined) uids.push(Number(uid));
    } catch {
      // gone meanwhile
    }
  }
  return uids;
}

/** The hooks' JSON logs in the site's LOG_DIR (every file, concatenated). */
function readLogs(): string {
  const dir = join(site.opts.root, 'log');
  if (!existsSync(dir)) return '';
  return readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('');
}
