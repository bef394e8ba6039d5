import { readFdFully } from '../../core/fs/index.js';
import { closeSync, constants as C, fstatSync, openSync } from 'node:fs';
import { VtorqueError } from '../../core/errors.js';
import { RUNNER_EXIT } from '../exit-codes.js';

/** Who must own a state file: root (what the job user may not change) or the job user running us. */
export type StateFileOwner = 'root' | 'self';

/**
 * Read one file of the job's state dir as the job user. The dirs above are root 0711 (searchable,
 * not listable), so no descriptor walk is possible; the file is opened without following a symlink,
 * must be a regular file of the expected owner and at most `maxBytes`.
 */
export function readStateFile(path: string, owner: StateFileOwner, maxBytes: number, uid: number = process.getuid?.() ?? -1): Buffer {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    throw stateError(path, openFailure(err, uid), err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw stateError(path, 'is not a regular file');
    const want = owner === 'root' ? 0 : uid;
    if (st.uid !== want) throw stateError(path, `is owned by uid ${st.uid}, expected uid ${want} (${owner === 'root' ? 'root' : 'the job owner'})`);
    if (st.size > maxBytes) throw stateError(path, `is ${st.size} bytes, more than ${maxBytes}`);
    return readFdFully(fd, st.size);
  } finally {
    closeSync(fd);
  }
}

function openFailure(err: unknown, uid: number): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'does not exist (did the vTorque prologue start this job\'s VMs on this node?)';
    case 'ELOOP':
      return 'is a symbolic link';
    case 'EACCES':
      return `cannot be read by uid ${uid}`;
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

export function stateError(path: string, reason: string, cause?: unknown): VtorqueError {
  return new VtorqueError('PERMISSION', `job state ${path}: ${reason}`, { exitCode: RUNNER_EXIT.setup, cause, fault: 'node' });
}
