import type { SlurmClient } from './slurm-client.js';

/**
 * The start's progress in the job's AdminComment, where `scontrol show job` shows it to the owner
 * while the Prolog runs (slurmd keeps a Prolog's own output only when it fails). One scontrol call
 * at a time, at most one every `minGapMs` (the last line of a burst is sent when the gap is over);
 * a failing update is only lost, never the start's problem.
 */
export interface ProgressNote {
  line(text: string): void;
  /** Send what is pending, or `final` instead, and wait for the updates to be done. */
  flush(final?: string): Promise<void>;
}

export function adminCommentProgress(slurm: Pick<SlurmClient, 'note'>, jobId: string, minGapMs = 3000): ProgressNote {
  let last = 0;
  let pending: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  const send = (text: string): void => {
    last = Date.now();
    chain = chain.then(() => slurm.note(jobId, `vTorque: ${text}`)).catch(() => undefined);
  };
  return {
    line(text) {
      const wait = minGapMs - (Date.now() - last);
      if (wait <= 0 && timer === undefined) {
        send(text);
        return;
      }
      pending = text;
      timer ??= setTimeout(() => {
        timer = undefined;
        if (pending !== null) send(pending);
        pending = null;
      }, Math.max(0, wait));
    },
    async flush(final) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      const text = final ?? pending;
      pending = null;
      if (text !== null) send(text);
      await chain;
    },
  };
}
