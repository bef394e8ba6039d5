/**
 * What an image's first bytes say, read by vmgr without any program: the qcow2 magic makes it
 * qcow2, anything else is raw (the engine decides a pool image's format the same way, from the
 * header, never by qemu-img's probing: src/engine/prepare/image.ts `sniffImage`). The engine starts
 * standalone images only, so these are also the reasons it would refuse one at every start.
 */
export const HEADER_BYTES = 104;

const QCOW2_MAGIC = 0x514649fb;
const QCOW2_INCOMPAT_DATA_FILE = 1n << 2n;

export interface HeaderFacts {
  readonly format: 'qcow2' | 'raw';
  /** A qcow2 naming a backing file. */
  readonly backing: boolean;
  /** A qcow2 whose data sit in another file (opening it opens that file too). */
  readonly dataFile: boolean;
  readonly encrypted: boolean;
  readonly truncated: boolean;
  /** A qcow2's virtual size from its header (what qemu-img would say), else null. */
  readonly virtualSize: number | null;
}

export function readHeaderFacts(header: Buffer): HeaderFacts {
  if (header.length < 4 || header.readUInt32BE(0) !== QCOW2_MAGIC) {
    return { format: 'raw', backing: false, dataFile: false, encrypted: false, truncated: false, virtualSize: null };
  }
  if (header.length < 72) return { format: 'qcow2', backing: false, dataFile: false, encrypted: false, truncated: true, virtualSize: null };
  const size = header.readBigUInt64BE(24);
  return {
    format: 'qcow2',
    backing: header.readBigUInt64BE(8) !== 0n,
    dataFile: header.readUInt32BE(4) >= 3 && header.length >= 80 && (header.readBigUInt64BE(72) & QCOW2_INCOMPAT_DATA_FILE) !== 0n,
    encrypted: header.readUInt32BE(32) !== 0,
    truncated: false,
    virtualSize: size <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(size) : null,
  };
}

/** Why the engine would refuse an image with this header at every start, or null when it would not. */
export function headerProblem(facts: HeaderFacts): string | null {
  if (facts.truncated) return 'has a truncated qcow2 header';
  if (facts.backing) return 'has a backing file';
  if (facts.dataFile) return 'has an external data file';
  if (facts.encrypted) return 'is an encrypted qcow2';
  return null;
}
