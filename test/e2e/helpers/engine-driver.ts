// Runs INSIDE the sandbox network namespace (`ip netns exec`), where the guests' ARP entries and
// addresses are: start one job's VMs with the real engine, run a command in rank 0 over SSH with the
// pinned host key, stop the job, and print one JSON result line on stdout. Progress goes to stderr.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'ssh2';
import { defaultConfig } from '../../../src/core/config/validate.js';
import type { SiteConfig } from '../../../src/core/config/schema.js';
import { hostCapacity } from '../../../src/core/node/capacity.js';
import { createRenderer } from '../../../src/core/render/index.js';
import { observeNode, openLibvirt, startJobVms, stopJobVms, type EngineContext } from '../../../src/engine/index.js';
import { loadUserDataBase } from '../../../src/guest/index.js';
import { IMAGE_KERNEL_CMDLINE } from '../../../src/image/index.js';
import { baseRequest } from '../../engine/engine-harness.js';

interface DriverInput {
  uri: string;
  network: string;
  spool: string;
  ramdisk: string;
  image: string;
  jobId: string;
  vmsPerNode: number;
  command: string;
}

const input = JSON.parse(readFileSync(process.env.VTQ_DRIVER_INPUT as string, 'utf8')) as DriverInput;
const repo = new URL('../../..', import.meta.url).pathname;
const config: SiteConfig = {
  ...defaultConfig(),
  LIBVIRT_URI: input.uri,
  VM_NETWORK: input.network,
  SPOOL_DIR: input.spool,
  RAMDISK_DIR: input.ramdisk,
  VM_IMG_DIR: dirname(input.image),
  HYPERVISOR: 'qemu',
  HOST_OS_CORE_COUNT: 2 - input.vmsPerNode,
  HOST_OS_RAM_MB: 1024,
  TIMEOUT: 240,
  PROLOGUE_TIMEOUT: 280,
  TCG_TB_CACHE_MB: 256,
};
const log = (level: string) => (fields: Record<string, unknown>, msg: string) => process.stderr.write(`${level} ${msg} ${JSON.stringify(fields)}\n`);

const libvirt = await openLibvirt(input.uri);
const ctx: EngineContext = {
  config,
  libvirt,
  domainType: 'qemu',
  renderTemplates: createRenderer(join(repo, 'templates')),
  renderTemplatesVm: createRenderer(join(repo, 'templates-vm')),
  userDataBase: loadUserDataBase(join(repo, 'templates-vm')),
  log: { info: log('info'), warn: log('warn') },
  progress: (line) => process.stderr.write(`${line}\n`),
};
const owner = { user: 'vtqtest', uid: 2000, gid: 2000, group: 'vtqtest' };
// The image's own kernel command line when it has one (the tuned image: with vtorque-seed).
const cmdline = existsSync(`${input.image}.cmdline`) ? readFileSync(`${input.image}.cmdline`, 'utf8').trim() : IMAGE_KERNEL_CMDLINE;
let result: Record<string, unknown> = {};
try {
  const node = await observeNode(hostname(), hostCapacity(), libvirt);
  const t0 = performance.now();
  const started = await startJobVms(
    {
      job: { jobId: input.jobId, owner },
      request: { ...baseRequest, vcpus: 1, ram: 1024, vms_per_node: input.vmsPerNode, vcpu_pinning: true },
      nodes: [node],
      baseImage: input.image,
      boot: { kernel: `${input.image}.vmlinuz`, initrd: `${input.image}.initrd`, cmdline },
      guestEnv: { PBS_JOBID: input.jobId, PBS_JOBNAME: "it's $(a) job" },
      uuid: randomUUID,
      deadlineAt: Date.now() + config.PROLOGUE_TIMEOUT * 1000,
    },
    ctx,
  );
  const readyMs = performance.now() - t0;
  const rank0 = started.vms[0];
  const output = await sshRun(rank0?.ip as string, owner.user, readFileSync(started.prepared.userKeyPath), rank0?.hostKey as string, input.command);
  const xml = await libvirt.xmlOf(rank0?.name as string);
  const stop = await stopJobVms(input.jobId, ctx, { keepLogs: false });
  const leftover = (await libvirt.listDomains()).filter((d) => d.name.startsWith(`vtq-${input.jobId}`)).map((d) => d.name);
  result = { ok: true, readyMs, vms: started.vms, timeline: started.timeline, output, pins: [...xml.matchAll(/<vcpupin [^>]*>/g)].map((m) => m[0]), stop, leftover };
} catch (err) {
  result = { ok: false, error: err instanceof Error ? err.message : String(err) };
} finally {
  await libvirt.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(result.ok ? 0 : 1);

function sshRun(host: string, username: string, privateKey: Buffer, hostKey: string, command: string): Promise<string> {
  const expected = Buffer.from(hostKey.split(' ')[1] as string, 'base64');
  return new Promise((resolve, reject) => {
    const conn = new Client();
    let out = '';
    conn
      .on('ready', () =>
        conn.exec(command, (err, stream) => {
          if (err) return reject(err);
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.stderr.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('close', () => {
            conn.end();
            resolve(out);
          });
        }),
      )
      .on('error', reject)
      .connect({ host, username, privateKey, hostVerifier: (key: Buffer) => key.equals(expected), readyTimeout: 20_000 });
  });
}
