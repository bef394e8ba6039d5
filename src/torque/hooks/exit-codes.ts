/** What pbs_mom makes of a prologue's exit code (torque-hook-contract.md §5.4). */
export const PROLOGUE_EXIT = {
  /** the job runs */
  run: 0,
  /** the job is aborted, not requeued: a bad request, a policy refusal, a cancel, or a node fault seen too often */
  abort: 1,
  /** the job is requeued at once (no backoff): a node fault worth another try */
  requeue: 2,
} as const;

/** Node faults after which the prologue stops asking Torque to requeue (its requeue loop has no backoff). */
export const MAX_NODE_FAULTS = 3;
