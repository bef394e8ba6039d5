import { VtorqueError, type Fault } from '../../core/errors.js';
import { RUNNER_EXIT } from '../exit-codes.js';

/**
 * The connection to a VM went away (error or close) before the command it carried had exited:
 * the node's when it dropped, a cancel when we dropped it for one (the site says which).
 */
export class SshLostError extends VtorqueError {
  readonly vm: string;
  readonly host: string;
  readonly reason: string;
  constructor(vm: string, host: string, reason: string, options: { readonly fault: Fault }) {
    super('SSH_FAILED', `lost the SSH connection to ${vm} (${host}): ${reason}`, { ...options, exitCode: RUNNER_EXIT.ssh });
    this.vm = vm;
    this.host = host;
    this.reason = reason;
  }
}

/** No session could be set up with a VM (refused, timed out, login rejected: the node's; or cancelled). */
export class SshConnectError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, target: string, reason: string, options: { readonly fault: Fault }) {
    super('SSH_FAILED', `cannot connect to ${vm} (${target}): ${reason}`, { ...options, exitCode: RUNNER_EXIT.ssh });
    this.vm = vm;
  }
}

/** The VM proved another host key than the one recorded for it: never trusted, nothing is sent there. The node's. */
export class HostKeyRefusedError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, detail: string) {
    super('SSH_FAILED', `host key mismatch for ${vm}: refusing to run the job there (${detail})`, { exitCode: RUNNER_EXIT.ssh, fault: 'node' });
    this.vm = vm;
  }
}

/** An SFTP upload or a command start failed on a working connection: the node's (its guest). */
export class GuestOperationError extends VtorqueError {
  readonly vm: string;
  constructor(vm: string, what: string, reason: string) {
    super('SSH_FAILED', `${what} in ${vm}: ${reason}`, { exitCode: RUNNER_EXIT.setup, fault: 'node' });
    this.vm = vm;
  }
}
