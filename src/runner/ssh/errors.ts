import { VtorqueError } from '../../core/errors.js';
import { RUNNER_EXIT } from '../exit-codes.js';

/** The connection to a VM went away (error or close) before the command it carried had exited. */
export class SshLostError extends VtorqueError {
  readonly vm: string;
  readonly host: string;
  readonly reason: string;
  constructor(vm: string, host: string, reason: string) {
    super('SSH_FAILED', `lost the SSH connection to ${vm} (${host}): ${reason}`, { exitCode: RUNNER_EXIT.ssh });
    this.vm = vm;
    this.host = host;
    this.reason = reason;
  }
}

/** No session could be set up with a VM (refused, timed out, login rejected). */
export class SshConnectError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, target: string, reason: string) {
    super('SSH_FAILED', `cannot connect to ${vm} (${target}): ${reason}`, { exitCode: RUNNER_EXIT.ssh });
    this.vm = vm;
  }
}

/** The VM proved another host key than the one recorded for it: never trusted, nothing is sent there. */
export class HostKeyRefusedError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, detail: string) {
    super('SSH_FAILED', `host key mismatch for ${vm}: refusing to run the job there (${detail})`, { exitCode: RUNNER_EXIT.ssh });
    this.vm = vm;
  }
}

/** An SFTP upload or a command start failed on a working connection. */
export class GuestOperationError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, what: string, reason: string) {
    super('SSH_FAILED', `${what} in ${vm}: ${reason}`, { exitCode: RUNNER_EXIT.setup });
    this.vm = vm;
  }
}
