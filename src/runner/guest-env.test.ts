import { describe, expect, it } from 'vitest';
import { jobGuestEnv, schedulerGuestEnv, slurmGuestEnv, SLURM_HOST_ONLY } from './guest-env.js';

describe('jobGuestEnv', () => {
  it('keeps every PBS_* variable, points both node files at the guest path, drops the rest', () => {
    const env = {
      PBS_JOBID: '42.srv',
      PBS_JOBNAME: "a'b;$(rm -rf ~)",
      PBS_O_WORKDIR: '/home/alice/run 1',
      PBS_NODEFILE: '/var/spool/torque/aux/42.srv',
      PBS_VMNODEFILE: '/elsewhere',
      HOME: '/home/alice',
      PATH: '/usr/bin',
      LD_PRELOAD: '/tmp/x.so',
    };
    expect(jobGuestEnv(env, '/var/spool/torque/aux/42.srv').vars).toEqual({
      PBS_JOBID: '42.srv',
      PBS_JOBNAME: "a'b;$(rm -rf ~)",
      PBS_O_WORKDIR: '/home/alice/run 1',
      PBS_NODEFILE: '/var/spool/torque/aux/42.srv',
      PBS_VMNODEFILE: '/var/spool/torque/aux/42.srv',
    });
  });

  it('sets the node files even when Torque gave none', () => {
    expect(jobGuestEnv({}, '/g/aux/1').vars).toEqual({ PBS_NODEFILE: '/g/aux/1', PBS_VMNODEFILE: '/g/aux/1' });
  });

  it('reports PBS_ names no shell variable can have, instead of failing the job', () => {
    const r = jobGuestEnv({ 'PBS_x-y': '1', PBS_lower: '2', PBS_OK: '3' }, '/n');
    expect(r.skipped).toEqual(['PBS_lower', 'PBS_x-y']);
    expect(r.vars).toEqual({ PBS_OK: '3', PBS_NODEFILE: '/n', PBS_VMNODEFILE: '/n' });
  });

  it('with the VM records: PBS_NP is their vCPUs and VTORQUE_* their layout over the host nodes, in rank order', () => {
    const vms = [
      { node: 'n2', rank: 2, vcpus: 2 },
      { node: 'n1', rank: 0, vcpus: 2 },
      { node: 'n2', rank: 3, vcpus: 2 },
      { node: 'n1', rank: 1, vcpus: 2 },
    ];
    expect(jobGuestEnv({ PBS_NUM_NODES: '2', VTORQUE_NUM_VMS: '99' }, '/n', vms).vars).toEqual({
      PBS_NUM_NODES: '2', PBS_NODEFILE: '/n', PBS_VMNODEFILE: '/n', PBS_NP: '8',
      VTORQUE_NUM_HOSTS: '2', VTORQUE_NUM_VMS: '4', VTORQUE_VM_LAYOUT: 'n1:2,n2:2',
    });
  });
});

/** The batch step's environment as slurmd 22.05 gives it on the job's first node (2 nodes, an array task), plus the submit env sbatch exported. */
const SLURM_BATCH_ENV: NodeJS.ProcessEnv = {
  SLURM_JOB_ID: '4242',
  SLURM_JOBID: '4242',
  SLURM_JOB_NAME: "a'b;$(rm -rf ~)",
  SLURM_JOB_USER: 'alice',
  SLURM_JOB_UID: '1000',
  SLURM_JOB_GID: '1000',
  SLURM_JOB_ACCOUNT: 'proj',
  SLURM_JOB_QOS: 'normal',
  SLURM_SUBMIT_DIR: '/home/alice/run 1',
  SLURM_SUBMIT_HOST: 'login1',
  SLURM_JOB_NODELIST: 'n[1-2]',
  SLURM_NODELIST: 'n[1-2]',
  SLURM_JOB_NUM_NODES: '2',
  SLURM_NNODES: '2',
  SLURM_CPUS_ON_NODE: '16',
  SLURM_JOB_CPUS_PER_NODE: '16(x2)',
  SLURM_TASKS_PER_NODE: '16(x2)',
  SLURM_NTASKS: '32',
  SLURM_NPROCS: '32',
  SLURM_MEM_PER_NODE: '4096',
  SLURM_CLUSTER_NAME: 'hpc',
  SLURM_JOB_PARTITION: 'batch',
  SLURM_ARRAY_JOB_ID: '4240',
  SLURM_ARRAY_TASK_ID: '2',
  SLURM_ARRAY_TASK_COUNT: '3',
  SLURM_ARRAY_TASK_MIN: '1',
  SLURM_ARRAY_TASK_MAX: '3',
  SLURM_ARRAY_TASK_STEP: '1',
  SLURM_LOCALID: '0',
  SLURM_PROCID: '0',
  SLURM_NODEID: '0',
  SLURM_PRIO_PROCESS: '0',
  SLURM_RLIMIT_NOFILE: '1024',
  SLURM_RLIMIT_STACK: '8388608',
  SLURM_EXPORT_ENV: 'ALL',
  SLURM_GET_USER_ENV: '1',
  // The host's step and daemons: false in the guest.
  SLURM_TASK_PID: '12345',
  SLURM_CONF: '/etc/slurm/slurm.conf',
  SLURM_TOPOLOGY_ADDR: 'n1',
  SLURM_TOPOLOGY_ADDR_PATTERN: 'node',
  SLURM_GTIDS: '0',
  SLURM_WORKING_CLUSTER: 'hpc:ctl1:6817:9728:109',
  SLURM_NODE_ALIASES: '(null)',
  SLURM_STEP_ID: '4294967291',
  SLURM_STEPID: '4294967291',
  SLURM_STEP_NODELIST: 'n1',
  SLURM_STEP_NUM_TASKS: '1',
  SLURM_SRUN_COMM_HOST: '10.1.0.1',
  SLURM_SRUN_COMM_PORT: '40001',
  SLURM_LAUNCH_NODE_IPADDR: '10.1.0.1',
  SLURM_CPU_BIND: 'quiet,mask_cpu:0xFFFF',
  SLURM_CPU_BIND_TYPE: 'mask_cpu:',
  SLURM_CPU_BIND_LIST: '0xFFFF',
  SLURM_CPU_BIND_VERBOSE: 'quiet',
  SLURMD_NODENAME: 'n1',
  // Not Slurm's, or not a shell name.
  ENVIRONMENT: 'BATCH',
  HOME: '/home/alice',
  PATH: '/usr/bin',
  LD_PRELOAD: '/tmp/x.so',
  PBS_O_WORKDIR: '/not/torque',
  'SLURM_x-y': '1',
  SLURM_lower: '2',
  // Set by the user at submit: replaced by the VMs' node file.
  SLURM_HOSTFILE: '/home/alice/hosts',
};

/** Two VMs on each of two host nodes, records in no particular order (ranks decide). */
const VMS = [
  { ip: '192.168.122.12', vcpus: 4, node: 'n2', rank: 2 },
  { ip: '192.168.122.10', vcpus: 4, node: 'n1', rank: 0 },
  { ip: '192.168.122.13', vcpus: 4, node: 'n2', rank: 3 },
  { ip: '192.168.122.11', vcpus: 4, node: 'n1', rank: 1 },
];
const NODE_FILE = '/var/spool/torque/aux/4242';

describe('slurmGuestEnv', () => {
  it('keeps the job\'s SLURM_* variables as they are, drops the host step\'s, and describes the VMs', () => {
    const r = slurmGuestEnv(SLURM_BATCH_ENV, NODE_FILE, VMS);
    expect(r.vars).toEqual({
      SLURM_JOB_ID: '4242',
      SLURM_JOBID: '4242',
      SLURM_JOB_NAME: "a'b;$(rm -rf ~)",
      SLURM_JOB_USER: 'alice',
      SLURM_JOB_UID: '1000',
      SLURM_JOB_GID: '1000',
      SLURM_JOB_ACCOUNT: 'proj',
      SLURM_JOB_QOS: 'normal',
      SLURM_SUBMIT_DIR: '/home/alice/run 1',
      SLURM_SUBMIT_HOST: 'login1',
      SLURM_JOB_CPUS_PER_NODE: '16(x2)',
      SLURM_TASKS_PER_NODE: '16(x2)',
      SLURM_NTASKS: '32',
      SLURM_NPROCS: '32',
      SLURM_MEM_PER_NODE: '4096',
      SLURM_CLUSTER_NAME: 'hpc',
      SLURM_JOB_PARTITION: 'batch',
      SLURM_ARRAY_JOB_ID: '4240',
      SLURM_ARRAY_TASK_ID: '2',
      SLURM_ARRAY_TASK_COUNT: '3',
      SLURM_ARRAY_TASK_MIN: '1',
      SLURM_ARRAY_TASK_MAX: '3',
      SLURM_ARRAY_TASK_STEP: '1',
      SLURM_LOCALID: '0',
      SLURM_PROCID: '0',
      SLURM_NODEID: '0',
      SLURM_PRIO_PROCESS: '0',
      SLURM_RLIMIT_NOFILE: '1024',
      SLURM_RLIMIT_STACK: '8388608',
      SLURM_EXPORT_ENV: 'ALL',
      SLURM_GET_USER_ENV: '1',
      // From the VMs: the names the node file holds (their addresses), rank order, each once.
      SLURM_JOB_NODELIST: '192.168.122.10,192.168.122.11,192.168.122.12,192.168.122.13',
      SLURM_NODELIST: '192.168.122.10,192.168.122.11,192.168.122.12,192.168.122.13',
      SLURM_JOB_NUM_NODES: '4',
      SLURM_NNODES: '4',
      SLURM_CPUS_ON_NODE: '4',
      SLURM_HOSTFILE: NODE_FILE,
      VTORQUE_NODEFILE: NODE_FILE,
      VTORQUE_NUM_HOSTS: '2',
      VTORQUE_NUM_VMS: '4',
      VTORQUE_VM_LAYOUT: 'n1:2,n2:2',
    });
    expect(r.skipped).toEqual(['SLURM_lower', 'SLURM_x-y']);
  });

  it('passes no host-only variable, whatever follows a listed prefix', () => {
    const r = slurmGuestEnv({ SLURM_STEP_GPUS: '0', SLURM_CPU_BIND_NEW: 'x', SLURM_TOPOLOGY_ADDR_X: 'y', SLURM_SRUN_COMM_X: 'z', 'SLURM_STEP_x-y': 'w' }, NODE_FILE, VMS.slice(1, 2));
    expect(Object.keys(r.vars).filter((n) => !/^(SLURM_(JOB_NODELIST|NODELIST|JOB_NUM_NODES|NNODES|CPUS_ON_NODE|HOSTFILE)|VTORQUE_.*)$/.test(n))).toEqual([]);
    // Dropped, so not reported as a name the guest could not take.
    expect(r.skipped).toEqual([]);
    expect(SLURM_HOST_ONLY).toContain('SLURMD_NODENAME');
  });

  it('with one VM of 8 vCPUs: one node, its address, its vCPUs, even when Slurm set nothing', () => {
    expect(slurmGuestEnv({}, '/n', [{ ip: '10.0.0.1', vcpus: 8, node: 'n1', rank: 0 }])).toEqual({
      vars: {
        SLURM_JOB_NODELIST: '10.0.0.1', SLURM_NODELIST: '10.0.0.1', SLURM_JOB_NUM_NODES: '1', SLURM_NNODES: '1', SLURM_CPUS_ON_NODE: '8',
        SLURM_HOSTFILE: '/n', VTORQUE_NODEFILE: '/n', VTORQUE_NUM_HOSTS: '1', VTORQUE_NUM_VMS: '1', VTORQUE_VM_LAYOUT: 'n1:1',
      },
      skipped: [],
    });
  });

  it('takes SLURM_CPUS_ON_NODE from rank 0 when the VMs differ', () => {
    const vms = [{ ip: '10.0.0.2', vcpus: 2, node: 'n1', rank: 1 }, { ip: '10.0.0.1', vcpus: 6, node: 'n1', rank: 0 }];
    expect(slurmGuestEnv({}, '/n', vms).vars).toMatchObject({ SLURM_CPUS_ON_NODE: '6', SLURM_NODELIST: '10.0.0.1,10.0.0.2' });
  });

  it('takes no PBS_* variable', () => {
    expect(Object.keys(slurmGuestEnv({ PBS_JOBID: '1.srv', PBS_O_WORKDIR: '/w' }, '/n', VMS).vars).filter((n) => n.startsWith('PBS_'))).toEqual([]);
  });
});

describe('schedulerGuestEnv', () => {
  it('is Torque\'s environment, exactly as before, for a Torque job', () => {
    const env = { ...SLURM_BATCH_ENV, PBS_JOBID: '42.srv', PBS_NUM_NODES: '2' };
    expect(schedulerGuestEnv({ kind: 'torque' }, env, '/n', VMS)).toEqual(jobGuestEnv(env, '/n', VMS));
    expect(schedulerGuestEnv({ kind: 'torque' }, env, '/n', VMS).vars).toEqual({
      PBS_JOBID: '42.srv', PBS_NUM_NODES: '2', PBS_O_WORKDIR: '/not/torque', PBS_NODEFILE: '/n', PBS_VMNODEFILE: '/n', PBS_NP: '16',
      VTORQUE_NUM_HOSTS: '2', VTORQUE_NUM_VMS: '4', VTORQUE_VM_LAYOUT: 'n1:2,n2:2',
    });
  });

  it('is Slurm\'s for a Slurm job', () => {
    expect(schedulerGuestEnv({ kind: 'slurm' }, SLURM_BATCH_ENV, NODE_FILE, VMS)).toEqual(slurmGuestEnv(SLURM_BATCH_ENV, NODE_FILE, VMS));
  });
});
