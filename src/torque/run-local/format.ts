import type { LiveEvent, RunLocalResult } from './types.js';
import { prologueOutcome } from './verdict.js';

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

/**
 * One live event as `vtorque run-local` prints it while the job runs: run-local's clock, then
 * what the line is (the step and the stream it wrote to) and the text, control characters shown
 * as \xNN (the text is the job owner's; it never drives root's terminal).
 *
 *   run-local   24.4s prologue stdout | [vtorque 24.1s] addresses: …
 *   run-local   95.0s prologue exit 0 after 94.1 s
 */
export function formatLiveEvent(e: LiveEvent): string {
  const head = `run-local ${(e.atMs / 1000).toFixed(1).padStart(7)}s`;
  const start = 'start' in e && e.start > 1 ? ` (start ${e.start})` : '';
  switch (e.kind) {
    case 'submitted':
      return `${head} job ${e.jobId} submitted\n`;
    case 'begin':
      return `${head} ${e.step} starts${start}\n`;
    case 'end': {
      const what = e.step === 'job' ? 'exit status' : 'exit';
      const outcome = e.step !== 'prologue' ? '' : { run: '', abort: ': Torque aborts the job', requeue: ': Torque requeues the job' }[prologueOutcome(e.rc)];
      return `${head} ${e.step} ${what} ${e.rc} after ${(e.ms / 1000).toFixed(1)} s${start}${outcome}\n`;
    }
    case 'output':
      return `${head} ${e.step.padEnd(8)} ${e.stream} | ${visible(e.text)}\n`;
    case 'note':
      return `${head} ${visible(e.text)}${start}\n`;
  }
}

/** Control characters (C0 but tab, DEL, C1) as \xNN; line separators and bidi controls as \uNNNN. */
function visible(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(/[\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
