import * as v from 'valibot';
import { ValidationError, VtorqueError } from '../errors.js';
import { VmRequestSchema, type VmRequest } from '../request/index.js';

/**
 * Contract v1 between vsub (user) and the root hooks: the job wrapper's second line carries the
 * frozen request, a later comment line the user's job script. Both ride inside the job script, so
 * Torque keeps a root-owned copy (mom_priv/jobs/<id>.SC) that the user cannot change after submit.
 */
export const REQUEST_MARKER = '#VTORQUE-REQUEST v1 ';
export const SCRIPT_MARKER = '#VTORQUE-SCRIPT v1 ';
/** Upper bound on what the hooks accept from a job script line (guards memory and parse time). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

export function encodeRequestLine(request: VmRequest): string {
  return REQUEST_MARKER + Buffer.from(JSON.stringify(request), 'utf8').toString('base64url');
}

export function encodeScriptLine(script: string): string {
  return SCRIPT_MARKER + Buffer.from(script, 'utf8').toString('base64url');
}

/** Is this job script a VM job? Only line 2 counts, so the hook's shell front can decide cheaply. */
export function hasRequestLine(scriptText: string): boolean {
  const lines = scriptText.split('\n', 3);
  return (lines[1] ?? '').startsWith(REQUEST_MARKER);
}


export interface DecodedJobScript {
  readonly request: VmRequest;
  readonly script: string;
}

/**
 * Read the request and the user's script back from a job script (the root side's only source).
 * Returns null for a plain job; throws a ValidationError (exit 1: a bad request, not a node fault)
 * when the marker is there but the payload is malformed.
 */
export function decodeJobScript(scriptText: string, source: string): DecodedJobScript | null {
  if (!hasRequestLine(scriptText)) return null;
  const lines = scriptText.split('\n');
  const requestLine = lines[1] as string;
  const scriptLine = lines.find((l) => l.startsWith(SCRIPT_MARKER));
  if (requestLine.length > MAX_LINE_BYTES || scriptLine === undefined || scriptLine.length > MAX_LINE_BYTES) {
    throw new VtorqueError('REQUEST_INVALID', `${source}: VM job script is malformed (request or script line missing or too large)`, { fault: 'job' });
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(requestLine.slice(REQUEST_MARKER.length), 'base64url').toString('utf8'));
  } catch {
    throw new VtorqueError('REQUEST_INVALID', `${source}: the frozen VM request is not valid base64url JSON`, { fault: 'job' });
  }
  const parsed = v.safeParse(VmRequestSchema, json);
  if (!parsed.success) {
    throw new ValidationError(
      'REQUEST_INVALID',
      parsed.issues.map((i) => ({
        source,
        key: v.getDotPath(i) ?? '(request)',
        value: i.input,
        expected: i.expected ?? i.message,
      })),
      { fault: 'job' },
    );
  }
  const script = Buffer.from(scriptLine.slice(SCRIPT_MARKER.length), 'base64url').toString('utf8');
  return { request: parsed.output, script };
}
