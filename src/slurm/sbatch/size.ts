/**
 * Slurm's memory sizes (`--mem=4G`, `--mem-per-cpu=512`), as sbatch 22.05 takes them (measured):
 * an integer, optionally followed by K, M, G or T (any case, an optional B after it), powers of
 * 1024; a bare number is MiB; leading blanks are allowed. `0` asks for all of a node's memory.
 * Refused by sbatch and here: fractions, signs, P, KiB, B alone, blanks inside or after.
 */
const SIZE = /^\s*(\d{1,15})(?:([KMGT])B?)?$/i;
const FACTOR: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/** How the grammar reads in a message. */
export const SLURM_SIZE_FORM = 'a Slurm size like 2048, 4G or 1T (K/M/G/T; a bare number is MiB)';

/** MiB of a Slurm size (KiB rounded up), or undefined when the text is not one. */
export function slurmSizeMiB(text: string): number | undefined {
  const m = SIZE.exec(text);
  if (!m) return undefined;
  return Math.ceil(Number(m[1]) * (FACTOR[(m[2] ?? 'M').toUpperCase()] as number));
}

/** A MiB count in Slurm's spelling (what sbatch takes back in `--mem=`). */
export function slurmSize(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}
