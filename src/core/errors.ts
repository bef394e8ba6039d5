/**
 * One error hierarchy for every role. Each error carries the context that explains it and the
 * exit code its role should end with; `run-main.ts` maps them to the process exit.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'REQUEST_UNKNOWN_KEY',
  'REQUEST_INVALID',
  'IMAGE_NOT_AUTHORIZED',
  'QSUB_MISSING',
  'NOT_SUPPORTED',
  'CANCELLED',
  'USAGE',
  'COMMAND_FAILED',
  'LIBVIRT_FAILED',
  'TIMEOUT',
  'SSH_FAILED',
  'CAPACITY',
  'UNSAFE_PATH',
  'PERMISSION',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Whose failure an error is, decided where it is raised (never guessed later from a code or a
 * message): the job's (its request, the site policy: another try cannot help, the job is
 * aborted with the reason), the node's (a missing tool, libvirt, a guest that did not come up:
 * another node or a later try may work, so the job is requeued, boundedly), or a cancel.
 */
export type Fault = 'job' | 'node' | 'cancel';

export interface VtorqueErrorOptions {
  exitCode?: number;
  cause?: unknown;
  /** Whose failure this is (see Fault), decided at every site that raises one. */
  fault: Fault;
}

export class VtorqueError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly fault: Fault;

  constructor(code: ErrorCode, message: string, options: VtorqueErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    this.fault = options.fault;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** One problem with one input value: where it came from, which key, what was given, what is accepted. */
export interface Issue {
  source: string;
  key: string;
  value?: unknown;
  expected: string;
}

export function formatIssue(issue: Issue): string {
  const shown = issue.value === undefined ? '' : ` = ${displayValue(issue.value)}`;
  return `${issue.source}: ${issue.key}${shown}: expected ${issue.expected}`;
}

/** Render a user value for a one-line message: JSON-quoted, control characters escaped, bounded. */
export function displayValue(value: unknown, max = 80): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

export class ValidationError extends VtorqueError {
  readonly issues: readonly Issue[];

  constructor(code: ErrorCode, issues: readonly Issue[], options: VtorqueErrorOptions) {
    super(code, issues.map(formatIssue).join('\n'), options);
    this.issues = issues;
  }
}

export interface CommandErrorDetails {
  file: string;
  args: readonly string[];
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

export class CommandError extends VtorqueError {
  readonly details: CommandErrorDetails;

  constructor(details: CommandErrorDetails, options: VtorqueErrorOptions) {
    const reason = details.timedOut
      ? `timed out after ${details.durationMs} ms`
      : details.signal
        ? `killed by ${details.signal}`
        : `exit code ${details.exitCode}`;
    const stderr = details.stderr.trim().split('\n').slice(-3).join(' | ');
    super('COMMAND_FAILED', `${escapeCommand(details.file, details.args)}: ${reason}${stderr ? `: ${stderr}` : ''}`, options);
    this.details = details;
  }
}

/** A command line for display only (logs, errors): each argument quoted when needed, control chars escaped. */
export function escapeCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map(quoteForDisplay).join(' ');
}

function quoteForDisplay(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return JSON.stringify(arg);
}

export class UnsafePathError extends VtorqueError {
  readonly path: string;
  constructor(path: string, reason: string, options: VtorqueErrorOptions) {
    super('UNSAFE_PATH', `refusing ${JSON.stringify(path)}: ${reason}`, options);
    this.path = path;
  }
}

/**
 * Whose failure `err` is: a VtorqueError says so itself; anything else (an errno from the
 * kernel, an exception from a library) is the node's, so it is retried boundedly and never
 * blamed on the job.
 */
export function faultOf(err: unknown): Fault {
  return err instanceof VtorqueError ? err.fault : 'node';
}
