import { VtorqueError } from '../core/errors.js';
import { openPinned } from '../core/ssh/pinned.js';

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
export async function writeGuestFile(target: GuestFileTarget, path: string, content: string, mode = 0o644): Promise<void> {
  const fail = (err: unknown): VtorqueError =>
    new VtorqueError('SSH_FAILED', `cannot write ${path} in ${target.host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err, exitCode: 2, fault: 'node' });
  let conn;
  try {
    conn = await openPinned(target, { readyTimeoutMs: target.timeoutMs });
  } catch (err) {
    throw fail(err);
  }
  const client = conn;
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('error', reject);
      client.sftp((err, sftp) => {
        if (err) return reject(err);
        sftp.writeFile(path, content, { mode }, (werr) => (werr ? reject(werr) : resolve()));
      });
    });
  } catch (err) {
    throw fail(err);
  } finally {
    client.end();
  }
}

/** The VM node file: each VM's address once per vCPU, rank order (as the original wrote it). */
export function vmNodeFile(vms: readonly { readonly ip: string | null; readonly vcpus: number }[]): string {
  return vms.flatMap((v) => Array<string>(v.vcpus).fill(v.ip ?? '')).join('\n') + '\n';
}
