import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../src/core/exec/run.js';
import { shellQuote, xmlEscape } from '../../../src/core/render/index.js';
import { IMAGE_KERNEL_CMDLINE, type ImageArtifacts } from '../../../src/image/index.js';

/** Everything one throw-away smoke guest needs: overlay, NoCloud seed, ssh key, domain XML. */
export interface SmokeGuest {
  readonly name: string;
  readonly mac: string;
  readonly dir: string;
  readonly key: string;
  readonly consoleLog: string;
  readonly xml: string;
}

export async function prepareSmokeGuest(dir: string, image: ImageArtifacts, network: string): Promise<SmokeGuest> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tag = randomBytes(3).toString('hex');
  const name = `vtq-smoke-${tag}`;
  const mac = `52:54:00:${tag.slice(0, 2)}:${tag.slice(2, 4)}:${tag.slice(4, 6)}`; // unique: no stale lease or ARP entry
  const key = join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vtq-smoke', '-f', key], { timeoutMs: 30_000 });
  const pub = readFileSync(`${key}.pub`, 'utf8').trim();
  // No ssh_pwauth: cloud-init would restart sshd in its config stage and refuse the next login.
  writeFileSync(
    join(dir, 'user-data'),
    ['#cloud-config', 'users:', '  - name: job', '    shell: /bin/bash', '    lock_passwd: true', `    ssh_authorized_keys: [ ${JSON.stringify(pub)} ]`, 'disable_root: true', ''].join('\n'),
  );
  writeFileSync(join(dir, 'meta-data'), `instance-id: ${name}-${Date.now()}\nlocal-hostname: smoke1\n`);
  const seed = join(dir, 'seed.iso');
  await run('cloud-localds', [seed, join(dir, 'user-data'), join(dir, 'meta-data')], { timeoutMs: 60_000 });
  const overlay = join(dir, 'disk.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image.qcow2, '-F', 'qcow2', overlay], { timeoutMs: 30_000 });
  const consoleLog = join(dir, 'console.log');
  const x = xmlEscape;
  const xml = `<domain type='qemu'>
  <name>${x(name)}</name>
  <memory unit='MiB'>1024</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${x(image.vmlinuz)}</kernel><initrd>${x(image.initrd)}</initrd>
    <cmdline>${x(IMAGE_KERNEL_CMDLINE)}</cmdline></os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='${x(overlay)}'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <source file='${x(seed)}'/><target dev='sda' bus='scsi'/><readonly/></disk>
    <controller type='scsi' model='virtio-scsi'/>
    <interface type='network'><source network='${x(network)}'/><mac address='${x(mac)}'/><model type='virtio'/></interface>
    <serial type='pty'><log file='${x(consoleLog)}' append='off'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
</domain>
`;
  writeFileSync(join(dir, 'domain.xml'), xml);
  return { name, mac, dir, key, consoleLog, xml };
}

/** The guest's IPv4 address once the netns's ARP table (/proc/net/arp) lists its MAC, else null. */
export async function arpAddress(netns: string, mac: string): Promise<string | null> {
  const res = await run('ip', ['netns', 'exec', netns, 'cat', '/proc/net/arp'], { timeoutMs: 10_000 });
  const line = res.stdout.split('\n').find((l) => l.toLowerCase().includes(mac) && !l.includes('0x0 '));
  return line?.split(/\s+/)[0] ?? null;
}

export function sshArgs(guest: SmokeGuest, ip: string, command: readonly string[]): string[] {
  return [
    '-i', guest.key,
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=5',
    `job@${ip}`,
    '--',
    ...command.map(shellQuote), // the remote side joins the words and hands them to a shell
  ];
}
