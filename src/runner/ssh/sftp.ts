import type { SFTPWrapper } from 'ssh2';
import { GuestOperationError } from './errors.js';
import type { VmSession } from './session.js';

/** SFTP status code for "no such file" (draft-ietf-secsh-filexfer-02 §7). */
const SFTP_NO_SUCH_FILE = 2;

export function openSftp(s: VmSession): Promise<SFTPWrapper> {
  return s.guard((resolve, reject) => {
    s.client.sftp((err, sftp) => (err ? reject(new GuestOperationError(s.vm, 'cannot start SFTP', err.message)) : resolve(sftp)));
  });
}

/**
 * Replace `path` in the guest atomically: write `<path>.new` with `mode`, then rename it over
 * `path` (posix-rename@openssh.com; without that extension, unlink then rename). Readers see the
 * old file or the new one, never a half-written one. No remote shell is involved.
 */
export async function replaceFile(s: VmSession, sftp: SFTPWrapper, path: string, content: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.new`;
  const step = <T>(what: string, run: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T | undefined> =>
    s.guard((resolve, reject) => run((err, value) => (err ? reject(new GuestOperationError(s.vm, `cannot ${what}`, err.message)) : resolve(value))));
  await step(`write ${tmp}`, (cb) => sftp.writeFile(tmp, content, { mode, flag: 'w' }, cb));
  // The server's umask applied to the create, and an old file kept its mode: set it exactly.
  await step(`chmod ${tmp}`, (cb) => sftp.chmod(tmp, mode, cb));
  await step(`rename ${tmp} to ${path}`, (cb) => renameOver(sftp, tmp, path, cb));
}

function renameOver(sftp: SFTPWrapper, from: string, to: string, cb: (err?: Error | null) => void): void {
  try {
    sftp.ext_openssh_rename(from, to, cb);
    return;
  } catch {
    // The server lacks posix-rename@openssh.com (ssh2 throws at once): plain SFTP rename fails on an existing target.
  }
  sftp.unlink(to, (err) => {
    if (err && (err as Error & { code?: number }).code !== SFTP_NO_SUCH_FILE) return cb(err);
    sftp.rename(from, to, cb);
  });
}
