import { VtorqueError } from '../../core/errors.js';
import { run } from '../../core/exec/run.js';
import { ENDED_JOB_STATES } from '../../slurm/job-states.js';

const READY = /^vTorque: \d+ VM\(s\) ready in /;

export interface FollowIo {
  show(jobId: string): Promise<string | null>;
  sleep(ms: number): Promise<void>;
  err(text: string): void;
}

/** What `scontrol show job ID` says that --follow reads: state, reason, and vTorque's AdminComment line. */
export function readJobView(text: string): { state: string; reason: string; comment: string } {
  const field = (key: string): string => new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(text)?.[1] ?? '';
  // AdminComment is printed on a line of its own; its value runs to the end of that line.
  const comment = /^\s*AdminComment=(.*)$/m.exec(text)?.[1]?.trim() ?? '';
  return { state: field('JobState'), reason: field('Reason'), comment };
}

/**
 * `vsbatch --follow`: after the submission, the job's start as the controller shows it (queued,
 * the Prolog's progress in AdminComment, a requeue's reason), one line per change on stderr.
 * 0 once the VMs are ready and the script starts in the guest; 1, with the reason, when the job
 * ends first or the controller forgets it.
 */
export async function followSlurmJob(jobId: string, io: FollowIo, everyMs = 1000): Promise<number> {
  let last = '';
  const say = (line: string): void => io.err(`vsbatch: job ${jobId}: ${line}\n`);
  let seen = false;
  for (;;) {
    const text = await io.show(jobId);
    if (text === null) {
      say(seen ? 'the controller no longer knows it' : 'the controller does not know it');
      return 1;
    }
    seen = true;
    const v = readJobView(text);
    const now = v.comment.startsWith('vTorque: ') ? v.comment : `${v.state}${v.reason && v.reason !== 'None' ? ` (${v.reason})` : ''}`;
    if (now !== last) say(now);
    last = now;
    if (READY.test(v.comment)) return 0;
    if (ENDED_JOB_STATES.has(v.state)) {
      say(`ended ${v.state} before its VMs were ready${v.comment ? `: ${v.comment.replace(/^vTorque: /, '')}` : ''}`);
      return 1;
    }
    await io.sleep(everyMs);
  }
}

/** The user's own `scontrol show job` (SLURM_CONF from the environment, as sbatch had it). */
export async function showJobAsUser(scontrol: string, jobId: string): Promise<string | null> {
  const r = await run(scontrol, ['show', 'job', jobId], { timeoutMs: 30_000, reject: false });
  if (r.exitCode === 0) return r.stdout;
  if (/Invalid job id/i.test(r.stderr)) return null;
  throw new VtorqueError('COMMAND_FAILED', `--follow: ${scontrol} show job ${jobId}: ${r.stderr.trim().split('\n').pop() || `exit code ${r.exitCode}`} (the job itself was submitted)`, { fault: 'node' });
}
