import { Client } from 'ssh2';
import { VtorqueError } from '../core/errors.js';
import { hostKeyAlgorithms, parseHostKey } from '../core/ssh/host-key.js';

export interface GuestFileTarget {
  readonly host: string;
  readonly user: string;
  readonly privateKey: Buffer;
  /** The host key we generated for this VM: anything else is refused. */
  readonly hostKey: string;
  readonly timeoutMs: number;
}

/**
 * Write one file into a guest as the job user over SFTP (no remote shell, so no quoting), with the
 * VM's host key pinned. Used for the VM node file once every VM's address is known.
 */
export function writeGuestFile(target: GuestFileTarget, path: string, content: string, mode = 0o644): Promise<void> {
  const expected = parseHostKey(target.hostKey);
  return new Promise((resolve, reject) => {
    const conn = new Client();
    const fail = (err: unknown): void => {
      conn.end();
      reject(new VtorqueError('SSH_FAILED', `cannot write ${path} in ${target.host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, exitCode: 2, fault: 'node' }));
    };
    conn
      .on('ready', () =>
        conn.sftp((err, sftp) => {
          if (err) return fail(err);
          sftp.writeFile(path, content, { mode }, (werr) => {
            if (werr) return fail(werr);
            conn.end();
            resolve();
          });
        }),
      )
      .on('error', fail)
      .connect({
        host: target.host,
        username: target.user,
        privateKey: target.privateKey,
        readyTimeout: target.timeoutMs,
        algorithms: { serverHostKey: hostKeyAlgorithms(expected.type) },
        hostVerifier: (key: Buffer) => key.equals(expected.blob),
      });
  });
}

/** The VM node file: each VM's address once per vCPU, rank order (as the original wrote it). */
export function vmNodeFile(vms: readonly { readonly ip: string | null; readonly vcpus: number }[]): string {
  return vms.flatMap((v) => Array<string>(v.vcpus).fill(v.ip ?? '')).join('\n') + '\n';
}
