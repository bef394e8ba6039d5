/**
 * Torque's size values (`mem=8gb`, `pmem=512mb`, `vmem=2147483648b`, words: `w`, `kw`, ...), as
 * qsub takes them and pbs_mom hands them to the hooks (units are powers of 1024; a word is 8 bytes).
 */
const SIZE = /^(\d{1,20})(b|kb|mb|gb|tb|pb|w|kw|mw|gw|tw|pw)?$/i;
const UNIT_BYTES: Record<string, number> = {
  b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4, pb: 1024 ** 5,
  w: 8, kw: 8 * 1024, mw: 8 * 1024 ** 2, gw: 8 * 1024 ** 3, tw: 8 * 1024 ** 4, pw: 8 * 1024 ** 5,
};

/** MiB of a Torque size value, or undefined when it is not one. */
export function torqueSizeMiB(text: string): number | undefined {
  const m = SIZE.exec(text.trim());
  if (!m) return undefined;
  return (Number(m[1]) * (UNIT_BYTES[(m[2] ?? 'b').toLowerCase()] as number)) / 1024 ** 2;
}

/** A MiB count in Torque's spelling (what qsub takes back in `-l mem=`). */
export function torqueSize(mib: number): string {
  return `${mib}mb`;
}
