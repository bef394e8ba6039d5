import { describe, expect, it } from 'vitest';
import { jobGuestEnv } from './guest-env.js';

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
