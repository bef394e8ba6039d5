/**
 * What slurmd makes of a Prolog's or Epilog's exit code (slurm-hook-contract.md §2): anything
 * but 0 drains the node ("Prolog error"/"Epilog error") and, for a Prolog, requeues the job held.
 * So the hooks exit 0 for everything that is the job's (its reason goes to the owner through the
 * job) and non-zero only where the node itself cannot go on.
 */
export const SLURM_HOOK_EXIT = {
  ok: 0,
  /** The node cannot even record why a job failed (its spool): drain it. */
  drain: 1,
} as const;

/**
 * Starts of one job that may fail for the node's reasons before the job fails with the reason:
 * the ones before are requeued (Slurm's own 120 s requeue delay keeps it from a hot loop, and
 * SLURM_JOB_RESTART_COUNT, kept by slurmctld, counts them on whatever node the job lands).
 */
export const MAX_NODE_FAULTS = 3;

/** The Prolog's start ends this long before slurmd's PrologEpilogTimeout (slurmd SIGTERMs it there and drains the node). */
export const PROLOG_MARGIN_SECONDS = 15;
/** The Epilog's stop returns this long before PrologEpilogTimeout. */
export const EPILOG_MARGIN_SECONDS = 5;
