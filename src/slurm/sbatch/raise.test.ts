import { describe, expect, it } from 'vitest';
import { parseSbatchArgs } from './options.js';
import { computeSlurmRaise } from './raise.js';

const need = { cpusPerNode: 5, memMiBPerNode: 3072 };
const raise = (cli: string[], script: string[] = [], env: Record<string, string> = {}) =>
  computeSlurmRaise({ commandLine: parseSbatchArgs(cli).tokens, env, script: parseSbatchArgs(script).tokens }, need);

describe('the honest raise, per node', () => {
  it('nothing given: one task per node with all the CPUs, --mem per node', () => {
    const r = raise([]);
    expect(r.add).toEqual(['--cpus-per-task=5', '--mem=3G']);
    expect(r.notes).toEqual(['requested --cpus-per-task=5 (1 task(s) per node × 5 ≥ 5 CPUs per node)', 'requested --mem=3G (per node)']);
    expect(r).toMatchObject({ cpusPerNode: 5, memMiBPerNode: 3072 });
  });
  it('--ntasks-per-node × --cpus-per-task: raises --cpus-per-task only as far as needed, never lowers', () => {
    expect(raise(['--ntasks-per-node=2', '-c', '2']).add).toEqual(['--cpus-per-task=3', '--mem=3G']);
    expect(raise(['--ntasks-per-node=2', '-c', '2']).notes[0]).toBe('raised --cpus-per-task=2 to --cpus-per-task=3 (2 task(s) per node × 3 ≥ 5 CPUs per node)');
    expect(raise(['--ntasks-per-node=8', '--mem=8G']).add).toEqual([]);
    expect(raise(['-c16', '--mem=4096']).add).toEqual([]);
  });
  it('-n counts per node only on exactly one node; the node count (a range too) does not enter', () => {
    expect(raise(['-n', '5', '-N', '1']).add).toEqual(['--mem=3G']);
    expect(raise(['-n', '5', '-N', '2-4']).add).toEqual(['--cpus-per-task=5', '--mem=3G']);
    expect(raise(['-N', '2-4', '-c', '5', '--mem=3G']).add).toEqual([]);
  });
  it('--mem is per node: raised when short, kept when enough; --mem=0 (the whole node) stays', () => {
    expect(raise(['-c5', '--mem=1G']).notes).toEqual(['raised --mem=1G to --mem=3G (per node)']);
    expect(raise(['-c5', '--mem=0'])).toMatchObject({ add: [], memMiBPerNode: 'all' });
  });
  it('--mem-per-cpu: times the CPUs per node after their raise; raised in its own kind', () => {
    expect(raise(['--mem-per-cpu=512']).add).toEqual(['--cpus-per-task=5', '--mem-per-cpu=615M']);
    expect(raise(['--mem-per-cpu=1G']).add).toEqual(['--cpus-per-task=5']);
    // the script's --mem-per-cpu is raised as --mem-per-cpu (sbatch refuses --mem beside it)
    expect(raise(['-c5'], ['--mem-per-cpu=100']).add).toEqual(['--mem-per-cpu=615M']);
  });
  it('the command line beats the environment, which beats the script', () => {
    expect(raise(['-c5'], ['--mem=1G'], { SBATCH_MEM_PER_NODE: '8G' }).add).toEqual([]);
    expect(raise(['-c5', '--mem=1G'], [], { SBATCH_MEM_PER_NODE: '8G' }).add).toEqual(['--mem=3G']);
    expect(raise(['-c5'], ['--mem=8G', '-c', '1']).add).toEqual([]);
    expect(raise([], ['-c', '5', '--mem=8G']).add).toEqual([]);
  });
  it('refusals name the option and the accepted form', () => {
    expect(() => raise(['--mem-per-gpu=1G'])).toThrow(/^--mem-per-gpu \(command line\) with --vm: .*expected --mem \(per node\) or --mem-per-cpu instead$/);
    expect(() => raise(['--mem=lots'])).toThrow(/^--mem = "lots" \(command line\): expected a Slurm size like 2048, 4G or 1T/);
    expect(() => raise([], [], { SBATCH_MEM_PER_CPU: '1.5G' })).toThrow(/^--mem-per-cpu = "1.5G" \(environment SBATCH_MEM_PER_CPU\): expected a Slurm size/);
    expect(() => raise(['-c', 'x'])).toThrow(/^--cpus-per-task = "x": expected a whole number ≥ 1 in a --vm job$/);
    expect(() => raise(['--ntasks-per-node=0'])).toThrow(/^--ntasks-per-node = "0": expected a whole number ≥ 1/);
  });
});
