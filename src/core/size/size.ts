/**
 * The one size grammar of vTorque's own values: `-vm ram=`, `unclot_shmem=` and every size in the
 * site config. An integer is MiB; K, M, G or T (with an optional `B` or `iB`, any case) scale it by
 * powers of 1024. A scheduler's own sizes (Torque's `mem=8gb`) keep their grammar in its adapter.
 */
const SIZE = /^\s*(\d{1,15})\s*(?:([KMGT])(?:i?B)?)?\s*$/i;

/** How the grammar reads in a message: "accepted: <SIZE_FORM>". */
export const SIZE_FORM = 'a size like 2048M, 4G or 1T (K/M/G/T; a bare number is MiB)';

/** MiB of a size (KiB rounded up), or undefined when the text is not one. */
export function parseMiB(text: string): number | undefined {
  if (text.length > 24) return undefined;
  const m = SIZE.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch ((m[2] ?? 'M').toUpperCase()) {
    case 'K':
      return Math.ceil(n / 1024);
    case 'M':
      return n;
    case 'G':
      return n * 1024;
    default:
      return n * 1024 * 1024;
  }
}

/** A size within [min, max] MiB, or undefined. */
export function parseMiBWithin(text: string, min: number, max: number): number | undefined {
  const n = parseMiB(text);
  return n !== undefined && n >= min && n <= max ? n : undefined;
}
