import { displayValue, VtorqueError } from '../../core/errors.js';
import { lastValue, type SbatchToken } from './options.js';
import { SLURM_SIZE_FORM, slurmSize, slurmSizeMiB } from './size.js';

/** Where sbatch takes a job's options from, strongest first: command line, environment, `#SBATCH` lines. */
export interface SlurmLevels {
  readonly commandLine: readonly SbatchToken[];
  /** sbatch's input environment (SBATCH_MEM_PER_NODE, SBATCH_MEM_PER_CPU, SBATCH_MEM_PER_GPU count here). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly script: readonly SbatchToken[];
}

/** What every node of the job must give it. */
export interface SlurmNeed {
  readonly cpusPerNode: number;
  readonly memMiBPerNode: number;
}

export interface SlurmRaise {
  /** Options to append to the command line (they override the environment and the script). */
  readonly add: readonly string[];
  readonly notes: readonly string[];
  /** The fewest CPUs and MiB any node of the job gets once raised ('all': `--mem=0`). */
  readonly cpusPerNode: number;
  readonly memMiBPerNode: number | 'all';
}

const MEM_ENV = { SBATCH_MEM_PER_NODE: 'mem', SBATCH_MEM_PER_CPU: 'mem-per-cpu', SBATCH_MEM_PER_GPU: 'mem-per-gpu' } as const;
type MemKind = (typeof MEM_ENV)[keyof typeof MEM_ENV];

/**
 * Raise a job's options so that every node it gets holds its VMs. Slurm counts both per node:
 * a node's CPUs are its tasks × `--cpus-per-task`, its memory `--mem` (per node) or
 * `--mem-per-cpu` × its CPUs. A node is sure of `--ntasks-per-node` tasks, of all `-n` tasks when
 * the job has exactly one node (`-N 1`), else of one; so `--cpus-per-task` is raised until that
 * many tasks hold the CPUs. Memory keeps the kind the job already uses (sbatch refuses `--mem`
 * next to a `--mem-per-cpu` of the script). Nothing is ever lowered; `--mem=0` (all of a node's
 * memory) stays. The node count (`-N 2-4` included) does not enter: every figure is per node.
 */
export function computeSlurmRaise(levels: SlurmLevels, need: SlurmNeed): SlurmRaise {
  const add: string[] = [];
  const notes: string[] = [];
  const pick = (name: string): string | undefined => (lastValue(levels.commandLine, name) ?? lastValue(levels.script, name)) ?? undefined;

  const perNode = count(pick('ntasks-per-node'), 'ntasks-per-node', 1);
  const ntasks = count(pick('ntasks'), 'ntasks', 1);
  const nodes = pick('nodes');
  const tasks = perNode ?? (ntasks !== undefined && nodes !== undefined && /^0*1$/.test(nodes.trim()) ? ntasks : 1);
  const given = count(pick('cpus-per-task'), 'cpus-per-task', 1);
  let cpusPerTask = given ?? 1;
  if (tasks * cpusPerTask < need.cpusPerNode) {
    cpusPerTask = Math.ceil(need.cpusPerNode / tasks);
    add.push(`--cpus-per-task=${cpusPerTask}`);
    const why = `${tasks} task(s) per node × ${cpusPerTask} ≥ ${need.cpusPerNode} CPUs per node`;
    notes.push(given === undefined ? `requested --cpus-per-task=${cpusPerTask} (${why})` : `raised --cpus-per-task=${given} to --cpus-per-task=${cpusPerTask} (${why})`);
  }
  const cpusPerNode = tasks * cpusPerTask;

  const mem = memoryOption(levels);
  let memMiBPerNode: number | 'all';
  if (mem === undefined) {
    add.push(`--mem=${slurmSize(need.memMiBPerNode)}`);
    notes.push(`requested --mem=${slurmSize(need.memMiBPerNode)} (per node)`);
    memMiBPerNode = need.memMiBPerNode;
  } else {
    const mib = slurmSizeMiB(mem.value);
    if (mem.kind === 'mem-per-gpu') {
      throw new VtorqueError('NOT_SUPPORTED', `--mem-per-gpu (${mem.from}) with --vm: the VMs need memory per node: expected --mem (per node) or --mem-per-cpu instead`, { exitCode: 1, fault: 'job' });
    }
    if (mib === undefined) {
      throw new VtorqueError('USAGE', `--${mem.kind} = ${displayValue(mem.value)} (${mem.from}): expected ${SLURM_SIZE_FORM}`, { exitCode: 1, fault: 'job' });
    }
    if (mem.kind === 'mem') {
      memMiBPerNode = mib === 0 ? 'all' : Math.max(mib, need.memMiBPerNode);
      if (mib !== 0 && mib < need.memMiBPerNode) {
        add.push(`--mem=${slurmSize(need.memMiBPerNode)}`);
        notes.push(`raised --mem=${mem.value} to --mem=${slurmSize(need.memMiBPerNode)} (per node)`);
      }
    } else {
      const perCpu = Math.ceil(need.memMiBPerNode / cpusPerNode);
      memMiBPerNode = Math.max(mib, perCpu) * cpusPerNode;
      if (mib * cpusPerNode < need.memMiBPerNode) {
        add.push(`--mem-per-cpu=${slurmSize(perCpu)}`);
        notes.push(`raised --mem-per-cpu=${mem.value} to --mem-per-cpu=${slurmSize(perCpu)} (× ${cpusPerNode} CPUs ≥ ${slurmSize(need.memMiBPerNode)} per node)`);
      }
    }
  }
  return { add, notes, cpusPerNode, memMiBPerNode };
}

/** The memory option sbatch uses: the strongest level that names one, its last one there. */
function memoryOption(levels: SlurmLevels): { kind: MemKind; value: string; from: string } | undefined {
  for (const [tokens, from] of [[levels.commandLine, 'command line'], [null, 'environment'], [levels.script, 'script']] as const) {
    if (tokens === null) {
      const set = (Object.keys(MEM_ENV) as (keyof typeof MEM_ENV)[]).filter((k) => levels.env[k] !== undefined && levels.env[k] !== '');
      const last = set.at(-1);
      if (last !== undefined) return { kind: MEM_ENV[last], value: levels.env[last] as string, from: `${from} ${last}` };
      continue;
    }
    let found: { kind: MemKind; value: string; from: string } | undefined;
    for (const t of tokens) {
      if (t.kind === 'option' && (t.name === 'mem' || t.name === 'mem-per-cpu' || t.name === 'mem-per-gpu')) found = { kind: t.name, value: t.value ?? '', from };
    }
    if (found) return found;
  }
  return undefined;
}

/** A count option's value: an integer ≥ min, else a one-line refusal naming it. */
function count(text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (!/^\d{1,9}$/.test(t) || Number(t) < min) {
    throw new VtorqueError('USAGE', `--${name} = ${displayValue(text)}: expected a whole number ≥ ${min} in a --vm job`, { exitCode: 1, fault: 'job' });
  }
  return Number(t);
}
