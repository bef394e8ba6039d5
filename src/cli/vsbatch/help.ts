import { resolveConfigPath } from '../../core/config/index.js';
import { helpConfig, vmKeysHelp } from '../vsub/help.js';
import { isExecutable } from '../vsub/qsub-binary.js';
import type { VsbatchDeps } from './deps.js';

/**
 * `vsbatch --help` (or `-h`, sbatch's own help letters): vsbatch's options and every --vm key
 * with its accepted form and default, then sbatch's own help. Needs no sbatch and no valid config.
 */
export async function printVsbatchHelp(configPath: string | undefined, deps: VsbatchDeps): Promise<number> {
  const { config, origin } = helpConfig(configPath, deps.env);
  deps.out(`usage: vsbatch [sbatch options] [--vm key=value[,key=value]...] [--dry-run [--json] | --follow] [--config FILE] [script [args]]

vsbatch submits a Slurm job exactly as sbatch does. With --vm on the command line, or
"#SBATCH --vm key=value,..." among the script's directives, the job runs in virtual machines
started for it; without, vsbatch runs sbatch with your arguments unchanged.

vsbatch's own options (exact words, before the script; sbatch never sees them):
  --vm key=value,... ask for VMs (repeatable; also --vm=...). A key may appear once on the command
                     line and once in the script; when it is in both the command line wins, with a warning
  --dry-run          print the sbatch command, the request and the job wrapper; submit nothing
  --json             with --dry-run: all of it as one JSON object
  --follow           after submitting, show the VM job's start as it happens (queued, the Prolog's
                     progress, a requeue); exit 0 when its script starts in the VM, 1 with the reason
  --config FILE      the vTorque site config (default: $VTORQUE_CONFIG, else ${resolveConfigPath({ env: {} }).path})

A VM job gets --cpus-per-task and --mem (or --mem-per-cpu) raised, per node, to the VMs' vCPUs and
RAM plus what the host keeps (HOST_OS_CORE_COUNT, HOST_OS_RAM_MB); vsbatch says what it raised.

--vm keys (case-insensitive); the defaults are ${origin}:
${vmKeysHelp(config)}
Examples:
  # a batch job in one VM (2 vCPUs, 4 GiB) from the pool's Debian 12 image
  vsbatch -t 60 --vm img=debian-12-x86_64.qcow2,vcpus=2,ram=4G job.sh arg1
  # a STDIN job, as sbatch takes one (its first line must be a #! line)
  printf '#!/bin/sh\\nhostname\\n' | vsbatch --vm vcpus=1
  # 2 nodes, 2 VMs on each (--cpus-per-task and --mem are raised to hold them)
  vsbatch -N 2 --vm vcpus=2,vms_per_node=2 job.sh
  # the sbatch command, the request and the job wrapper as JSON; submits nothing
  vsbatch --dry-run --json --vm vcpus=2 job.sh
`);
  const sbatch = config.SLURM_SBATCH;
  if (isExecutable(sbatch)) {
    deps.out(`\nsbatch's own options, all taken by vsbatch as sbatch takes them (from ${sbatch} --help):\n`);
    try {
      await deps.runSbatch(sbatch, ['--help'], null);
      return 0;
    } catch {
      // it could not be started after all: say where its options are documented instead
    }
  }
  deps.out(`\nsbatch's own options, all taken by vsbatch as sbatch takes them: see sbatch(1) (\`man sbatch\`); the configured sbatch ${sbatch} is not installed here (SLURM_SBATCH)\n`);
  return 0;
}
