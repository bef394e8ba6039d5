import { renderJobWrapper } from '../../core/contract/job-wrapper.js';
import { displayValue, VtorqueError } from '../../core/errors.js';
import type { Renderer } from '../../core/render/index.js';
import type { VmRequest } from '../../core/request/index.js';
import { type Directive, quoteWord } from '../../torque/qsub/index.js';
import { VSUB_EXIT } from './exit-codes.js';

export interface WrapperInput {
  readonly request: VmRequest;
  readonly script: string;
  readonly directives: readonly Directive[];
  readonly directivePrefix: string;
  readonly nodePath: string;
  /** dist/job-run.mjs of this installation. */
  readonly jobRunBundle: string;
}

/**
 * The job script qsub receives: the frozen request on line 2 (where the hook fronts look), the
 * user's directives next (qsub reads them before the first command), the user's script as data.
 */
export function buildWrapper(input: WrapperInput, renderer: Renderer): string {
  const plain = directiveLines(input.directives, input.directivePrefix);
  const wrapper = renderJobWrapper({ ...input, directiveLines: plain, writer: 'vsub', scheduler: 'Torque' }, renderer);
  // qsub reads the wrapper for directives too: only the user's own may start with the prefix.
  const prefix = input.directivePrefix;
  if (prefix !== '' && wrapper.split('\n').filter((l) => l.trimStart().startsWith(prefix)).length !== plain.length) {
    throw new VtorqueError('USAGE', `directive prefix ${displayValue(prefix)} would read vTorque's own lines of the job wrapper; use another -C prefix`, { exitCode: VSUB_EXIT.usage, fault: 'job' });
  }
  return wrapper;
}

/**
 * The script's directives for the wrapper, minus -vm (qsub would misread it). A one-line directive
 * is kept as it was; one that had -vm, was continued with a backslash or ends in one is written
 * as one line of its remaining words, which qsub reads the same way.
 */
export function directiveLines(directives: readonly Directive[], prefix: string): string[] {
  const first = directives[0];
  if (first !== undefined && !prefix.startsWith('#')) {
    throw new VtorqueError('USAGE', `${first.source} line ${first.lineNo}: directive prefix ${displayValue(prefix)} (-C) does not start with #, so the job wrapper would run the directive as a command: expected a -C prefix starting with #`, { exitCode: VSUB_EXIT.usage, fault: 'job' });
  }
  const out: string[] = [];
  for (const d of directives) {
    refuseCommandContinuation(d, prefix);
    const line = (d.lines[0] as string).replace(/\r$/, '');
    if (d.lines.length === 1 && !line.endsWith('\\') && !d.parsed.tokens.some((t) => t.kind === 'vm')) {
      out.push(line);
      continue;
    }
    const rest = d.parsed.tokens.filter((t) => t.kind !== 'vm').flatMap((t) => t.raw);
    if (rest.length > 0) out.push(`${prefix} ${rest.map(quoteWord).join(' ')}`);
  }
  return out;
}

/**
 * qsub takes the line after a trailing backslash into the directive whatever it is, and its copy
 * of the script holds the joined line; the VM runs the user's script as written, where a line that
 * is not a comment is a command. Blank and comment lines mean the same to both.
 */
function refuseCommandContinuation(d: Directive, prefix: string): void {
  d.lines.forEach((raw, i) => {
    const body = raw.replace(/\r$/, '').trimStart();
    if (i === 0 || body === '' || body.startsWith('#')) return;
    throw new VtorqueError(
      'USAGE',
      `${d.source} line ${d.lineNo + i}: ${displayValue(body)} continues the ${prefix} directive of line ${d.lineNo} (a trailing \\), so qsub would read it as directive text, but the job's shell in the VM would run it as a command: expected the directive on one line, or the rest as a ${prefix} line of its own`,
      { exitCode: VSUB_EXIT.invalid, fault: 'job' },
    );
  });
}
