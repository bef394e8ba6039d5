import { isIP } from 'node:net';
import type { SFTPWrapper } from 'ssh2';
import { VtorqueError } from '../core/errors.js';
import { keyOnly } from '../core/ssh/host-key.js';
import { openPinned } from '../core/ssh/pinned.js';

export interface GuestFileTarget {
  readonly host: string;
  /** 22 unless given (tests: an SFTP server on a free port). */
  readonly port?: number;
  readonly user: string;
  readonly privateKey: Buffer;
  /** The host key we generated for this VM: anything else is refused. */
  readonly hostKey: string;
  readonly timeoutMs: number;
}

export interface GuestFile {
  readonly path: string;
  readonly content: string | Buffer;
  /** Applied as the file is created (a fresh guest has none of these files). */
  readonly mode: number;
}

/**
 * Write files into a guest as the job user over one SFTP session (no remote shell, so no quoting),
 * with the VM's host key pinned, one after the other. Used once every VM's address is known: the
 * VM node file and the job's key and known_hosts for SSH between the job's VMs.
 */
export async function writeGuestFiles(target: GuestFileTarget, files: readonly GuestFile[]): Promise<void> {
  const fail = (what: string, err: unknown): VtorqueError =>
    new VtorqueError('SSH_FAILED', `cannot write ${what} in ${target.host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, exitCode: 2, fault: 'node' });
  const all = files.map((f) => f.path).join(', ');
  let conn;
  try {
    conn = await openPinned(target, { readyTimeoutMs: target.timeoutMs });
  } catch (err) {
    throw fail(all, err);
  }
  const client = conn;
  // One listener for the session's life: a connection that drops fails the step under way.
  let dropped: ((err: Error) => void) | null = null;
  client.on('error', (err) => dropped?.(err));
  const step = <T>(what: string, start: (resolve: (v: T) => void, reject: (e: Error) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      dropped = reject;
      start(resolve, reject);
    }).catch((err: unknown) => {
      throw fail(what, err);
    });
  try {
    const sftp = await step<SFTPWrapper>(all, (resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    for (const f of files) await step<void>(f.path, (resolve, reject) => sftp.writeFile(f.path, f.content, { mode: f.mode }, (err) => (err ? reject(err) : resolve())));
  } finally {
    client.end();
  }
}

/** The VM node file: each VM's address once per vCPU, rank order (as the original wrote it). */
export function vmNodeFile(vms: readonly { readonly ip: string | null; readonly vcpus: number }[]): string {
  return vms.flatMap((v) => Array<string>(v.vcpus).fill(v.ip ?? '')).join('\n') + '\n';
}

/** A host key line as known_hosts takes it: `type base64`, nothing that could start another line. */
const HOST_KEY = /^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,253})$/;

/**
 * known_hosts for SSH between a job's VMs: `<ip>,<hostname> <host key>` per VM, so the job's
 * `ssh -o UserKnownHostsFile=…` to any of them, by address or name, checks the key we generated.
 */
export function guestKnownHosts(vms: readonly { readonly name: string; readonly ip: string; readonly hostname: string; readonly hostKey: string }[]): string {
  return vms
    .map((vm) => {
      const key = keyOnly(vm.hostKey.trim());
      if (isIP(vm.ip) === 0 || !HOSTNAME.test(vm.hostname) || !HOST_KEY.test(key)) {
        throw new VtorqueError('INTERNAL', `VM ${vm.name}: no known_hosts line from address ${JSON.stringify(vm.ip)}, hostname ${JSON.stringify(vm.hostname)} and its host key`, { fault: 'node' });
      }
      return `${vm.ip},${vm.hostname} ${key}\n`;
    })
    .join('');
}
