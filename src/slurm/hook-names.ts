/** The two hooks vTorque gives slurmd (installed as lib/vtorque/hooks/<name>, named in slurm.conf's Prolog= and Epilog=). */
export const SLURM_HOOK_NAMES = ['slurm-prolog', 'slurm-epilog'] as const;
export type SlurmHookName = (typeof SLURM_HOOK_NAMES)[number];

/** What vsbatch puts first in a VM job's comment: the one sign a Prolog front reads (slurmd passes SLURM_JOB_COMMENT). */
export const VM_COMMENT_MARKER = 'vtorque-vm';
