import { VtorqueError, displayValue } from '../../core/errors.js';

export type LibvirtOp = 'open' | 'close' | 'list' | 'xml' | 'define' | 'start' | 'create' | 'shutdown' | 'destroy' | 'undefine' | 'state' | 'cpu';

/**
 * @unraid/libvirt passes only `virGetLastError()->message` through (its codes are always -1), so
 * "the domain is gone" can only be told apart by the message text.
 */
const NOT_FOUND = /not found|no domain with matching/i;
const NOT_RUNNING = /not running/i;

export interface LibvirtErrorDetails {
  readonly op: LibvirtOp;
  /** The domain the operation was about; null for connection-level operations. */
  readonly domain: string | null;
  readonly uri: string;
  readonly cause: unknown;
}

/** One failed libvirt call: which operation, on which domain, and libvirt's own reason. Always the node's. */
export class LibvirtError extends VtorqueError {
  readonly op: LibvirtOp;
  readonly domain: string | null;
  readonly uri: string;
  /** libvirt's message, unchanged. */
  readonly reason: string;
  /** The domain does not exist (any more): teardown counts that as done. */
  readonly notFound: boolean;
  /** The domain is not running: destroy/shutdown of a stopped domain. */
  readonly notRunning: boolean;

  constructor(details: LibvirtErrorDetails) {
    const reason = reasonOf(details.cause);
    const target = details.domain === null ? displayValue(details.uri) : displayValue(details.domain);
    super('COMMAND_FAILED', `libvirt ${details.op} ${target}: ${reason}`, { cause: details.cause, fault: 'node' });
    this.op = details.op;
    this.domain = details.domain;
    this.uri = details.uri;
    this.reason = reason;
    this.notFound = NOT_FOUND.test(reason);
    this.notRunning = NOT_RUNNING.test(reason);
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof LibvirtError && err.notFound;
}

export function isNotRunning(err: unknown): boolean {
  return err instanceof LibvirtError && err.notRunning;
}

/** libvirt's message on one line (its parser errors span three: text, source line, caret). */
function reasonOf(cause: unknown): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^-*\^$/.test(l));
  const reason = lines.join(' | ') || 'unknown libvirt error';
  return reason.length > 500 ? `${reason.slice(0, 500)}…` : reason;
}
