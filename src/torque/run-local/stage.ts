import { closeSync, constants as C, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { UnsafePathError, VtorqueError } from '../../core/errors.js';
import { lstatNoFollow, mkdirPrivate, openNoFollow, readFileNoFollow, ROOT_OWNER, setOwnerMode, unlinkNoFollow, writeFileExclusive, type Owner } from '../../core/fs/index.js';
import { momPaths } from '../torque-home.js';

/** pbs_mom's directories under TORQUE_HOME, with the modes a Torque install gives them. */
export interface MomLayout {
  readonly torqueHome: string;
  readonly momPriv: string;
  readonly jobsDir: string;
  readonly auxDir: string;
  readonly spoolDir: string;
}

/** The files of one job: Torque's names for them. */
export interface JobFiles {
  readonly jobId: string;
  /** mom_priv/jobs/<jobid>.SC, root 0700 until the job starts. */
  readonly script: string;
  readonly nodefile: string;
  /** PBS_NODEFILE as pbs_mom spells it for the hooks: path_aux + "/" + jobid, path_aux ending in "/". */
  readonly nodefileForHooks: string;
  readonly stdout: string;
  readonly stderr: string;
}

export function momLayout(torqueHome: string): MomLayout {
  const { momPriv, jobsDir, auxDir, spoolDir } = momPaths(torqueHome);
  return { torqueHome: torqueHome.replace(/\/+$/, '') || '/', momPriv, jobsDir, auxDir, spoolDir };
}

export function jobFiles(layout: MomLayout, jobId: string): JobFiles {
  return {
    jobId,
    script: join(layout.jobsDir, `${jobId}.SC`),
    nodefile: join(layout.auxDir, jobId),
    nodefileForHooks: `${layout.auxDir}//${jobId}`,
    stdout: join(layout.spoolDir, `${jobId}.OU`),
    stderr: join(layout.spoolDir, `${jobId}.ER`),
  };
}

const LAYOUT_MODES: readonly [keyof MomLayout, number][] = [
  ['momPriv', 0o751],
  ['jobsDir', 0o751],
  ['auxDir', 0o755],
  ['spoolDir', 0o1777],
];

/** Create what is missing like a Torque install does; existing directories are left as they are. */
export function ensureMomLayout(layout: MomLayout): void {
  const home = lstatNoFollow(layout.torqueHome, { trusted: true });
  if (home === null) mkdirPrivate(layout.torqueHome, 0o755);
  else if (!home.isDirectory()) throw new UnsafePathError(layout.torqueHome, 'TORQUE_HOME is not a directory', { fault: 'node' });
  else if ((home.mode & 0o001) === 0) {
    throw new VtorqueError('PERMISSION', `TORQUE_HOME ${layout.torqueHome} (mode ${(home.mode & 0o7777).toString(8)}) cannot be traversed by the job owner; a Torque home is 0755`, { fault: 'node' });
  }
  for (const [key, mode] of LAYOUT_MODES) {
    const st = lstatNoFollow(layout[key], { trusted: true });
    if (st === null) mkdirPrivate(layout[key], mode);
    else if (!st.isDirectory()) throw new UnsafePathError(layout[key], 'is not a directory', { fault: 'node' });
  }
}

/**
 * The next `<n>.<host>` from `<SPOOL_DIR>/run-local/seq` (root only), skipping numbers whose files
 * are still there (a kept run). The .SC is created O_EXCL later, so a concurrent run cannot share it.
 */
export function allocateJobId(spoolDir: string, host: string, layout: MomLayout): string {
  const dir = join(spoolDir, 'run-local');
  mkdirPrivate(dir, 0o700);
  const seqPath = join(dir, 'seq');
  const text = lstatNoFollow(seqPath, { trusted: true }) === null ? '0' : readFileNoFollow(seqPath, 64).trim();
  let n = /^\d+$/.test(text) ? Number(text) : 0;
  let id: string;
  do {
    n++;
    id = `${n}.${host}`;
  } while ([jobFiles(layout, id).script, jobFiles(layout, id).stdout].some((p) => lstatSync(p, { throwIfNoEntry: false }) !== undefined));
  const tmp = join(dir, `seq.${process.pid}`);
  unlinkNoFollow(tmp);
  writeFileExclusive(tmp, `${n}\n`, 0o600, ROOT_OWNER);
  renameSync(tmp, seqPath);
  return id;
}

/** pbs_mom's copy of the job script: root-owned 0700 while the hooks run. */
export function writeJobScript(files: JobFiles, text: string): void {
  writeFileExclusive(files.script, text, 0o700, ROOT_OWNER);
}

/** Right when the job starts, pbs_mom hands the script to its owner (still 0700). */
export function giveJobScript(files: JobFiles, owner: Owner): void {
  setOwnerMode(files.script, owner, 0o700);
}

/** The node file: this host once per core, as for `nodes=1:ppn=N`. */
export function writeNodefile(files: JobFiles, host: string, ppn: number): void {
  writeFileExclusive(files.nodefile, `${host}\n`.repeat(ppn), 0o644, ROOT_OWNER);
}

/**
 * Fresh .OU/.ER owned by the job owner, mode 0600, open for appending: each start overwrites the
 * previous one's, as Torque's do. The descriptors are what the hooks and the job write to; with
 * `readers`, also a read-only descriptor on each (openSpoolReader) for following them live.
 */
export function openSpoolFiles(files: JobFiles, owner: Owner, opts: { readers?: boolean } = {}): SpoolFds {
  const out = createSpoolFile(files.stdout, owner, opts.readers === true);
  try {
    const err = createSpoolFile(files.stderr, owner, opts.readers === true);
    return { stdout: out.fd, stderr: err.fd, readers: out.reader && err.reader ? { stdout: out.reader, stderr: err.reader } : null };
  } catch (e) {
    closeSync(out.fd);
    if (out.reader && out.reader.fd !== null) closeSync(out.reader.fd);
    throw e;
  }
}

export interface SpoolFds {
  readonly stdout: number;
  readonly stderr: number;
  /** Read-only descriptors on the same two files; null unless asked for. */
  readonly readers: { readonly stdout: SpoolReader; readonly stderr: SpoolReader } | null;
}

/** A read-only descriptor on a spool file, or why there is none (the file is then not followed). */
export type SpoolReader = { readonly fd: number; readonly problem: null } | { readonly fd: null; readonly problem: string };

/** Closes the write descriptors and whatever readers are still open (each at most once). */
export function closeSpoolFds(io: SpoolFds): void {
  for (const fd of [io.stdout, io.stderr, io.readers?.stdout.fd, io.readers?.stderr.fd]) {
    if (typeof fd === 'number') closeSync(fd);
  }
}

function createSpoolFile(path: string, owner: Owner, withReader: boolean): { fd: number; reader: SpoolReader | null } {
  unlinkNoFollow(path);
  const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_APPEND, 0o600);
  let reader: SpoolReader | null = null;
  try {
    // Opened while the file is still root's (nobody else may rename or unlink it in the sticky
    // spool directory), and checked to be the same inode.
    if (withReader) reader = openSpoolReader(path, fd);
    fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, 0o600);
    return { fd, reader };
  } catch (err) {
    closeSync(fd);
    if (reader && reader.fd !== null) closeSync(reader.fd);
    throw err;
  }
}

/**
 * A read-only descriptor on the spool file open as `writeFd`: O_NOFOLLOW, never a FIFO or device
 * (O_NONBLOCK, then it must be the very inode of `writeFd`). Reading it follows what the hooks and
 * the job write through their descriptors, whatever the owner later does to the path.
 */
export function openSpoolReader(path: string, writeFd: number): SpoolReader {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    return { fd: null, problem: `${path} cannot be opened for reading (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  const now = fstatSync(fd);
  const made = fstatSync(writeFd);
  if (!now.isFile() || now.ino !== made.ino || now.dev !== made.dev) {
    closeSync(fd);
    return { fd: null, problem: `${path} was replaced while it was being opened` };
  }
  return { fd, problem: null };
}

/** A spool file's text (bounded), never through a symlink; the job may have replaced it. */
export function readSpoolFile(path: string, owner: Owner, maxBytes = 8 << 20): string {
  let file;
  try {
    file = openNoFollow(path, { trusted: true });
  } catch (err) {
    return `(${path}: ${(err as Error).message})\n`;
  }
  try {
    const st = fstatSync(file.fd);
    if (st.uid !== owner.uid) return `(${path} is owned by uid ${st.uid}, not the job owner; not shown)\n`;
    const size = Math.min(st.size, maxBytes);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(file.fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    const text = buf.subarray(0, off).toString('utf8');
    return st.size > maxBytes ? `${text}\n(… ${st.size - maxBytes} more bytes in ${path})\n` : text;
  } finally {
    file.close();
  }
}

/** What pbs_mom purges when the job leaves: the script, the node file and the spool files. */
export function removeJobFiles(files: JobFiles): void {
  for (const path of [files.script, files.nodefile, files.stdout, files.stderr]) {
    try {
      unlinkNoFollow(path);
    } catch {
      /* best effort: a directory that is no longer trusted keeps its file */
    }
  }
}
