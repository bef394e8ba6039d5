import type { VmRequest } from '../../core/request/index.js';

export const WRAPPER_PLACEHOLDER = '<wrapper>';

/**
 * `--dry-run` of a submit command: the scheduler's command line (`<wrapper>` for the job wrapper's
 * file), the request and the wrapper; with `--json` one object `{ <command>: argv, request, script }`.
 */
export function printDryRun(out: (text: string) => void, json: boolean, command: 'qsub' | 'sbatch', argv: readonly string[], request: VmRequest | null, wrapper: string | null): number {
  if (json) {
    out(`${JSON.stringify({ [command]: argv, request, script: wrapper })}\n`);
    return 0;
  }
  out(`would run: ${argv.map((a) => JSON.stringify(a)).join(' ')}\n`);
  if (request) out(`request: ${JSON.stringify(request)}\n`);
  if (wrapper) out(`wrapper (${WRAPPER_PLACEHOLDER}):\n${wrapper}`);
  return 0;
}

/**
 * A scheduler reads no directive after the script's first command; a `-vm` one there is most
 * likely meant, so say that it is ignored (one line, however many there are).
 */
export function lateVmNote(lines: readonly number[], firstCommand: number | null, scriptName: string, directive: string, scheduler: string, vmJob: boolean): string | null {
  const [first, ...more] = lines;
  if (first === undefined) return null;
  const others = more.length === 0 ? '' : ` (and ${more.length} more after it)`;
  const effect = vmJob ? 'its keys are not used' : 'this job runs on the host, without a VM';
  return `${scriptName} line ${first}${others}: ${directive} comes after the first command (line ${firstCommand}), where ${scheduler} reads no more directives: ignored, ${effect}`;
}
