import { describe, expect, it } from 'vitest';
import { VtorqueError } from '../core/errors.js';
import { RUNNER_EXIT } from './exit-codes.js';
import { guestWorkdir, jobScheduler } from './scheduler-env.js';

function refusal(env: NodeJS.ProcessEnv): VtorqueError {
  try {
    jobScheduler(env);
  } catch (err) {
    if (err instanceof VtorqueError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('jobScheduler', () => {
  it('is Torque when PBS_JOBID is set, with its job id as given', () => {
    expect(jobScheduler({ PBS_JOBID: '7[3].srv', PBS_O_WORKDIR: '/w' })).toEqual({ kind: 'torque', name: 'Torque', idVariable: 'PBS_JOBID', jobId: '7[3].srv' });
  });

  it('is Slurm when only SLURM_JOB_ID is set', () => {
    expect(jobScheduler({ SLURM_JOB_ID: '4242', SLURM_JOBID: '4242', SLURM_JOB_NAME: 'x' })).toEqual({ kind: 'slurm', name: 'Slurm', idVariable: 'SLURM_JOB_ID', jobId: '4242' });
    expect(jobScheduler({ SLURM_JOB_ID: '4294967294', SLURM_ARRAY_JOB_ID: '4240', SLURM_ARRAY_TASK_ID: '2' }).jobId).toBe('4294967294');
  });

  it('takes PBS_JOBID over a SLURM_JOB_ID carried along (qsub -V inside a Slurm allocation)', () => {
    expect(jobScheduler({ PBS_JOBID: '42.srv', SLURM_JOB_ID: '4242' })).toMatchObject({ kind: 'torque', jobId: '42.srv' });
  });

  it('takes an empty PBS_JOBID for none', () => {
    expect(jobScheduler({ PBS_JOBID: '', SLURM_JOB_ID: '9' })).toMatchObject({ kind: 'slurm', jobId: '9' });
  });

  it('with neither, says so naming both variables and both wrappers, as a usage error of the job', () => {
    for (const env of [{}, { PBS_JOBID: undefined, SLURM_JOB_ID: '' }, { SLURM_JOBID: '4242', HOME: '/h' }]) {
      const err = refusal(env);
      expect(err).toMatchObject({ code: 'USAGE', exitCode: RUNNER_EXIT.usage, fault: 'job' });
      // Starts as before: test/runner and test/build match "PBS_JOBID is not set".
      expect(err.message).toMatch(/^PBS_JOBID is not set, nor SLURM_JOB_ID: .*Torque or Slurm job.*vsub or vsbatch/);
    }
  });

  it.each(['42.srv', '-1', '12 ', '1;rm -rf ~', '../7', '4240_2', '4240_', '1+0', '0x10', '1'.repeat(13), '１２'])('refuses SLURM_JOB_ID %j', (id) => {
    const err = refusal({ SLURM_JOB_ID: id });
    expect(err).toMatchObject({ code: 'USAGE', exitCode: RUNNER_EXIT.usage, fault: 'job' });
    expect(err.message).toMatch(/^SLURM_JOB_ID = ".*": expected a Slurm job id \(1 to 12 digits\)/);
  });

  it('shows a refused id as one bounded line', () => {
    const err = refusal({ SLURM_JOB_ID: `1\n${'x'.repeat(500)}` });
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeLessThan(300);
  });
});

describe('guestWorkdir', () => {
  const torque = jobScheduler({ PBS_JOBID: '42.srv' });
  const slurm = jobScheduler({ SLURM_JOB_ID: '4242' });

  it('is PBS_O_WORKDIR under Torque, whatever the runner\'s cwd', () => {
    expect(guestWorkdir(torque, { PBS_O_WORKDIR: '/home/alice/run 1' }, '/var/spool/torque/mom_priv')).toBe('/home/alice/run 1');
    expect(guestWorkdir(torque, {}, '/home/alice')).toBeUndefined();
  });

  it('is the runner\'s cwd under Slurm (sbatch --chdir), not SLURM_SUBMIT_DIR', () => {
    expect(guestWorkdir(slurm, { SLURM_SUBMIT_DIR: '/home/alice', PBS_O_WORKDIR: '/elsewhere' }, '/home/alice/run 1')).toBe('/home/alice/run 1');
    expect(guestWorkdir(slurm, { SLURM_SUBMIT_DIR: '/home/alice' }, undefined)).toBeUndefined();
  });
});

describe('the scheduler the wrapper names', () => {
  it('VTORQUE_SCHEDULER=slurm wins over a PBS_JOBID the submitter carried in', () => {
    expect(jobScheduler({ VTORQUE_SCHEDULER: 'slurm', PBS_JOBID: '12.srv', SLURM_JOB_ID: '7' })).toMatchObject({ kind: 'slurm', jobId: '7' });
    expect(jobScheduler({ PBS_JOBID: '12.srv', SLURM_JOB_ID: '7' })).toMatchObject({ kind: 'torque', jobId: '12.srv' });
  });
});
