import { describe, expect, it } from 'vitest';
import { followSlurmJob, readJobView } from './follow.js';

// `scontrol show job` as 22.05 prints it (AdminComment on a line of its own), trimmed.
const view = (state: string, reason: string, comment?: string): string =>
  `JobId=7 JobName=vm.sh\n   UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A\n   JobState=${state} Reason=${reason} Dependency=(null)\n   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0\n${comment === undefined ? '' : `   AdminComment=${comment} \n`}   NodeList=n1\n`;

function follow(seq: (string | null)[]) {
  const lines: string[] = [];
  let i = 0;
  const io = { show: async () => seq[Math.min(i++, seq.length - 1)] ?? null, sleep: async () => undefined, err: (t: string) => void lines.push(t.trimEnd()) };
  return { run: () => followSlurmJob('7', io), lines };
}

describe('vsbatch --follow', () => {
  it("reads state, reason and vTorque's AdminComment (to the end of its line)", () => {
    expect(readJobView(view('RUNNING', 'Prolog', 'vTorque: [vtorque 3.1s] planned 1 VM(s): vvm-1 (1 vCPU, 1024 MiB)'))).toEqual({ state: 'RUNNING', reason: 'Prolog', comment: 'vTorque: [vtorque 3.1s] planned 1 VM(s): vvm-1 (1 vCPU, 1024 MiB)' });
  });
  it('shows each change, a requeue included, and ends 0 once the VMs are ready', async () => {
    const f = follow([
      view('PENDING', 'Priority'),
      view('PENDING', 'Priority'),
      view('RUNNING', 'Prolog'),
      view('RUNNING', 'Prolog', 'vTorque: the VMs failed to start (attempt 1 of 3): libvirt open …. the job is requeued'),
      view('PENDING', 'BeginTime', 'vTorque: the VMs failed to start (attempt 1 of 3): libvirt open …. the job is requeued'),
      view('RUNNING', 'Prolog', 'vTorque: [vtorque 0.1s] disks and seeds ready; starting VMs'),
      view('RUNNING', 'None', 'vTorque: 1 VM(s) ready in 25.9 s (plan 0.0s); the job starts in vvm-1'),
    ]);
    expect(await f.run()).toBe(0);
    expect(f.lines).toEqual([
      'vsbatch: job 7: PENDING (Priority)',
      'vsbatch: job 7: RUNNING (Prolog)',
      'vsbatch: job 7: vTorque: the VMs failed to start (attempt 1 of 3): libvirt open …. the job is requeued',
      'vsbatch: job 7: vTorque: [vtorque 0.1s] disks and seeds ready; starting VMs',
      'vsbatch: job 7: vTorque: 1 VM(s) ready in 25.9 s (plan 0.0s); the job starts in vvm-1',
    ]);
  });
  it('ends 1 with the reason when the job ends first, or the controller forgets it', async () => {
    const failed = follow([view('RUNNING', 'Prolog', 'vTorque: the VMs did not start: img = "x": not in the pool'), view('FAILED', 'NonZeroExitCode', 'vTorque: the VMs did not start: img = "x": not in the pool')]);
    expect(await failed.run()).toBe(1);
    expect(failed.lines.at(-1)).toBe('vsbatch: job 7: ended FAILED before its VMs were ready: the VMs did not start: img = "x": not in the pool');
    const gone = follow([view('PENDING', 'None'), null]);
    expect(await gone.run()).toBe(1);
    expect(gone.lines.at(-1)).toBe('vsbatch: job 7: the controller no longer knows it');
  });
});
