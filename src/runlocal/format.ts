import type { RunLocalResult } from './types.js';

/**
 * What `vtorque run-local` prints: vsub's own output when it said something or failed, the job's
 * output as Torque would deliver it (labelled), what it would leave undelivered in its spool, and
 * one final line with the verdict and Torque's exit status.
 */
export function formatRunLocal(result: RunLocalResult): string {
  const parts: string[] = [];
  const section = (title: string, text: string): void => {
    parts.push(`=== ${title} ===\n`);
    if (text !== '') parts.push(text.endsWith('\n') ? text : `${text}\n`);
  };
  const { submit } = result;
  if (result.verdict === 'not-submitted') {
    section(`vsub stdout (exit ${submit.exitCode})`, submit.stdout);
    section('vsub stderr', submit.stderr);
  } else {
    if (submit.stderr !== '') section('vsub stderr', submit.stderr);
    section(`job ${result.jobId} stdout (.OU)`, result.stdout);
    section(`job ${result.jobId} stderr (.ER)`, result.stderr);
    // A prologue that aborted delivers nothing: what it wrote stays in Torque's spool.
    if (result.spool.stdout !== result.stdout || result.spool.stderr !== result.stderr) {
      section(`not delivered: left in Torque's spool as ${result.jobId}.OU`, result.spool.stdout);
      section(`not delivered: left in Torque's spool as ${result.jobId}.ER`, result.spool.stderr);
    }
  }
  if (result.attempts.length > 1) {
    parts.push(`run-local: ${result.attempts.length} starts, prologue exit codes ${result.attempts.map((a) => a.prologueRc).join(', ')}\n`);
  }
  if (result.canceled) parts.push('run-local: canceled (--cancel-after)\n');
  const verdict = result.verdict === 'not-submitted' ? 'not submitted' : result.verdict;
  parts.push(`run-local: job ${result.jobId}: ${verdict}, exit status ${result.exitStatus}\n`);
  return parts.join('');
}
