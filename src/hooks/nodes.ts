import { hostname } from 'node:os';
import { VtorqueError } from '../core/errors.js';
import { readFileNoFollow } from '../core/fs/index.js';

export const shortName = (host: string): string => host.split('.')[0] ?? host;

export interface Allocation {
  readonly nodes: readonly string[];
  /** Slots (cores) Torque gave the job on this node. */
  readonly localSlots: number;
  readonly localName: string;
}

/**
 * The job's allocation from PBS_NODEFILE (root's copy in TORQUE_HOME/aux): one line per slot.
 * This is what the VMs must fit in, whatever the job script claims.
 */
export function readAllocation(nodefile: string | undefined, local = hostname()): Allocation | null {
  if (!nodefile) return null;
  let text: string;
  try {
    text = readFileNoFollow(nodefile.replace(/\/{2,}/g, '/'), 16 << 20);
  } catch (err) {
    throw new VtorqueError('COMMAND_FAILED', `cannot read the job's node file ${nodefile}: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const nodes = [...new Set(lines.map(shortName))];
  const me = shortName(local);
  return { nodes, localName: me, localSlots: lines.filter((l) => shortName(l) === me).length };
}
