import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { slurmAllocation } from './allocation.js';
import { expandCpusPerNode, parseSlurmHookEnv } from './context.js';
import { activeIds, pickJob } from './slurm-client.js';

const sample = readFileSync(new URL('../testdata/squeue-22.05.json', import.meta.url), 'utf8');
// What slurmd 22.05 gave a Prolog here (slurm-hook-env-matrix.md, plus SLURM_JOB_COMMENT measured).
const prologEnv = {
  SLURM_SCRIPT_CONTEXT: 'prolog_slurmd', SLURM_JOB_ID: '6', SLURM_JOB_UID: '1001', SLURM_JOB_GID: '1001', SLURM_JOB_USER: 'vtqslu',
  SLURMD_NODENAME: 'vtqsl1', SLURM_NODELIST: 'vtqsl1', SLURM_JOB_CPUS_PER_NODE: '2', SLURM_JOB_RESTART_COUNT: '1', SLURM_JOB_PARTITION: 'vm',
  SLURM_CLUSTER_NAME: 'vtqx', SLURM_JOB_COMMENT: 'vtorque-vm',
};

describe("slurmd's hook environment", () => {
  it('reads job, owner, node and restart count', () => {
    expect(parseSlurmHookEnv('prolog', prologEnv)).toMatchObject({ hook: 'prolog', jobId: '6', user: 'vtqslu', uid: 1001, gid: 1001, node: 'vtqsl1', nodeList: 'vtqsl1', cpusPerNode: '2', restartCount: 1, userProblem: null });
  });
  it('runs only as the hook slurmd says it is, for a numeric job id', () => {
    expect(() => parseSlurmHookEnv('epilog', prologEnv)).toThrow(/SLURM_SCRIPT_CONTEXT is "prolog_slurmd", expected epilog_slurmd/);
    expect(() => parseSlurmHookEnv('prolog', { ...prologEnv, SLURM_JOB_ID: '6;x' })).toThrow(/SLURM_JOB_ID "6;x" is not a Slurm job id/);
    expect(() => parseSlurmHookEnv('prolog', { ...prologEnv, SLURMD_NODENAME: '../x' })).toThrow(/SLURMD_NODENAME/);
  });
  it('names an owner it will not look up, without failing the hook', () => {
    expect(parseSlurmHookEnv('prolog', { ...prologEnv, SLURM_JOB_USER: 'a b' }).userProblem).toMatch(/^job owner "a b": expected a user name/);
  });
  it('expands SLURM_JOB_CPUS_PER_NODE in node-list order', () => {
    expect(expandCpusPerNode('4(x2),2')).toEqual([4, 4, 2]);
    expect(expandCpusPerNode('1')).toEqual([1]);
    expect(expandCpusPerNode('4(x2')).toBeNull();
    expect(expandCpusPerNode('')).toBeNull();
  });
});

describe("the controller's job list (squeue --json, 22.05: every job, filters ignored)", () => {
  it("picks the job by id, from JSON fields, never from text the user chose (job 6's name imitates scontrol's key=value)", () => {
    const j = pickJob(sample, '6');
    expect(j).toEqual({ jobId: '6', state: 'RUNNING', batchHost: 'vtqsl1', userId: 1001, memoryMiB: new Map([['vtqsl1', 1500]]) });
    expect(pickJob(sample, '99')).toBeNull();
  });
  it('knows which jobs have not ended', () => {
    expect([...activeIds(sample)]).toEqual(['6']);
  });
  it('refuses what is not squeue JSON', () => {
    expect(() => pickJob('slurm_load_jobs error', '6')).toThrow(/squeue --json gave no JSON/);
    expect(() => pickJob('{"jobs": [{"job_id": 6}]}', '6')).toThrow(/squeue --json: job 6 lacks job_state/);
  });
});

describe('the allocation in rank order', () => {
  const job = { jobId: '7', state: 'RUNNING', batchHost: 'n2', userId: 1001, memoryMiB: new Map([['n1', 3000], ['n2', 4000]]) };
  it('puts the batch host first, with CPUs from slurmd and memory from the controller', () => {
    expect(slurmAllocation(['n1', 'n2', 'n3'], '2(x2),4', job)).toEqual([
      { name: 'n2', slots: 2, memory: { mib: 4000, basis: 'Slurm allocated 4000 MiB on n2' } },
      { name: 'n1', slots: 2, memory: { mib: 3000, basis: 'Slurm allocated 3000 MiB on n1' } },
      { name: 'n3', slots: 4, memory: null },
    ]);
  });
  it('refuses counts that do not match the node list, and a batch host outside it', () => {
    expect(() => slurmAllocation(['n1', 'n2'], '2', job)).toThrow(/SLURM_JOB_CPUS_PER_NODE="2" for 2 node\(s\)/);
    expect(() => slurmAllocation(['n1'], '2', job)).toThrow(/batch host "n2" is not in its node list n1/);
  });
});
