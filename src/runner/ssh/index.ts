// SSH to the job's VMs: pinned host keys, SFTP uploads, streamed commands. Adapter over ssh2.
export { connectVm, type SshLimits, type VmTarget } from './connect.js';
export { GuestOperationError, HostKeyRefusedError, SshConnectError, SshLostError } from './errors.js';
export { execStreaming, type ExecIo, type RemoteExit } from './exec.js';
export { openSftp, replaceFile } from './sftp.js';
export { VmSession } from './session.js';
