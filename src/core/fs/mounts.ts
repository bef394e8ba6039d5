import { readFileSync } from 'node:fs';

export interface MountEntry {
  /** The mount point as this process sees it (octal escapes decoded). */
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
  /** Per-superblock options, e.g. `rw,size=1048576k,mode=711`. */
  readonly superOptions: string;
}

/** `\040` → space etc.: the kernel escapes space, tab, newline and backslash in mountinfo fields. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parse /proc/self/mountinfo text (see proc(5)); malformed lines are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    if (sep < 0 || fields.length < sep + 4) continue;
    entries.push({
      mountPoint: unescape(fields[4] as string),
      fsType: fields[sep + 1] as string,
      source: unescape(fields[sep + 2] as string),
      superOptions: fields[sep + 3] as string,
    });
  }
  return entries;
}

/** The mounts of this process's mount namespace, read fresh each call. */
export function readMounts(mountInfoPath = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountInfo(readFileSync(mountInfoPath, 'utf8'));
}

/** Every mount whose mount point is `path` itself (stacked mounts count once each). */
export function mountsAt(path: string, mounts: readonly MountEntry[] = readMounts()): MountEntry[] {
  return mounts.filter((m) => m.mountPoint === path);
}

/** Mount points at `path` or anywhere below it, compared as path strings. */
export function mountPointsUnder(path: string, mounts: readonly MountEntry[] = readMounts()): string[] {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  return [...new Set(mounts.map((m) => m.mountPoint).filter((p) => p === path || p.startsWith(prefix)))];
}
