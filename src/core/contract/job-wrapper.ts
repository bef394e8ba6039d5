import { displayValue, VtorqueError } from '../errors.js';
import type { Renderer } from '../render/index.js';
import type { VmRequest } from '../request/index.js';
import { encodeRequestLine, encodeScriptLine } from './job-script.v1.js';

export interface JobWrapperInput {
  readonly request: VmRequest;
  /** The user's job script, carried as data. */
  readonly script: string;
  /** The scheduler's directive lines for the wrapper's header: one-line comments, already checked by the adapter. */
  readonly directiveLines: readonly string[];
  readonly nodePath: string;
  /** dist/job-run.mjs of this installation. */
  readonly jobRunBundle: string;
  /** Who wrote it and which scheduler runs it, for the wrapper's own comment ("vsub", "Torque"). */
  readonly writer: string;
  readonly scheduler: string;
  /** VTORQUE_SCHEDULER for the runner ('slurm'), when the job's environment may carry another scheduler's job id; omitted: none. */
  readonly schedulerEnv?: 'slurm';
}

/**
 * The job script a scheduler receives for a VM job (contract job-script v1): the frozen request on
 * line 2 (where the hook fronts look), the user's directives next (the scheduler reads them before
 * the first command), the user's script as data, then the exec of the job runner.
 */
export function renderJobWrapper(input: JobWrapperInput, renderer: Renderer): string {
  // Directive text is user text copied verbatim; for the wrapper's sh it is only ever comment lines.
  for (const l of input.directiveLines) {
    if (l.includes('\n') || !l.trimStart().startsWith('#')) throw new VtorqueError('INTERNAL', `directive line is not a comment: ${displayValue(l)}`, { fault: 'node' });
  }
  return renderer.render('job-wrapper.sh.hbs', {
    requestLine: encodeRequestLine(input.request),
    directiveLines: input.directiveLines,
    scriptLine: encodeScriptLine(input.script),
    nodePath: input.nodePath,
    jobRunBundle: input.jobRunBundle,
    writer: input.writer,
    scheduler: input.scheduler,
    schedulerEnv: input.schedulerEnv ?? '',
  });
}
