import { encodeRequestLine, encodeScriptLine } from '../../core/contract/job-script.v1.js';
import { VtorqueError } from '../../core/errors.js';
import type { Renderer } from '../../core/render/render.js';
import type { VmRequest } from '../../core/request/types.js';
import type { Directive } from '../../core/qsub/index.js';
import { quoteWord } from '../../core/qsub/index.js';

export interface WrapperInput {
  readonly request: VmRequest;
  readonly script: string;
  readonly directives: readonly Directive[];
  readonly directivePrefix: string;
  readonly nodePath: string;
  readonly vtorqueBundle: string;
}

/**
 * The job script qsub receives: the frozen request on line 2 (where the hook fronts look), the
 * user's directives next (qsub reads them before the first command), the user's script as data.
 */
export function buildWrapper(input: WrapperInput, renderer: Renderer): string {
  if ('#VTORQUE-REQUEST'.startsWith(input.directivePrefix)) {
    throw new VtorqueError('USAGE', `directive prefix ${JSON.stringify(input.directivePrefix)} would read vTorque's own lines; use another -C prefix`, { exitCode: 2 });
  }
  // Directive text is user text copied verbatim; for the wrapper's sh it is only ever comment lines.
  const plain = (directiveLines(input.directives, input.directivePrefix)).map((l) => {
    if (l.includes('\n') || !l.trimStart().startsWith('#')) throw new VtorqueError('INTERNAL', `directive line is not a comment: ${JSON.stringify(l)}`);
    return l;
  });
  return renderer.render('job-wrapper.sh.hbs', {
    requestLine: encodeRequestLine(input.request),
    directiveLines: plain,
    scriptLine: encodeScriptLine(input.script),
    nodePath: input.nodePath,
    vtorqueBundle: input.vtorqueBundle,
  });
}

/** The script's directives minus `-vm` (qsub would misread it): other options are kept as they were. */
export function directiveLines(directives: readonly Directive[], prefix: string): string[] {
  const out: string[] = [];
  for (const d of directives) {
    if (!d.parsed.tokens.some((t) => t.kind === 'vm')) {
      out.push(...d.lines.map((l) => l.replace(/\r$/, '')));
      continue;
    }
    const rest = d.parsed.tokens.filter((t) => t.kind !== 'vm').flatMap((t) => t.raw);
    if (rest.length > 0) out.push(`${prefix} ${rest.map(quoteWord).join(' ')}`);
  }
  return out;
}
