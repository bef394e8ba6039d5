import type { Stats } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { epilogueArgs, hookEnv, hookPermissionsOk, prologueArgs, type HookJob } from './mom.js';

const job: HookJob = { jobId: '12.vm', user: 'alice', group: 'alice', jobName: 'STDIN', resources: 'nodes=1,neednodes=1', queue: 'batch', account: '', script: '/t/mom_priv/jobs/12.vm.SC' };

describe('hook argv', () => {
  it('prologue gets 8 positions, epilogue 11, empty values as ""', () => {
    expect(prologueArgs(job)).toEqual(['12.vm', 'alice', 'alice', 'STDIN', 'nodes=1,neednodes=1', 'batch', '', '/t/mom_priv/jobs/12.vm.SC']);
    const epi = epilogueArgs(job, { sessionId: '0', resourcesUsed: '', exitStatus: -2 });
    expect(epi).toHaveLength(11);
    expect(epi.slice(4)).toEqual(['0', 'nodes=1,neednodes=1', '', 'batch', '', '-2', '/t/mom_priv/jobs/12.vm.SC']);
  });
});

describe('hookEnv', () => {
  it('is the mom environment plus the PBS_* set and nothing else', () => {
    const env = hookEnv({ momEnv: { LANG: 'C.UTF-8', PATH: '/bin:/usr/bin' }, msHost: 'vm', nodefile: '/t/aux//12.vm', np: 2, ppn: 2, workDir: '/home/alice', resourceNodes: '1:ppn=2' }, '/t/mom_priv');
    expect(Object.keys(env).sort()).toEqual(['LANG', 'PATH', 'PBS_MSHOST', 'PBS_NODEFILE', 'PBS_NODENUM', 'PBS_NP', 'PBS_NUM_NODES', 'PBS_NUM_PPN', 'PBS_O_WORKDIR', 'PBS_RESOURCE_NODES', 'PWD', 'SHLVL']);
    expect(hookEnv({ momEnv: {}, msHost: 'vm', nodefile: 'n', np: 1, ppn: 1, workDir: '/', resourceNodes: null }, '/').PBS_RESOURCE_NODES).toBeUndefined();
  });
});

describe('hookPermissionsOk', () => {
  const st = (mode: number, uid = 0, file = true): Stats => ({ mode, uid, isFile: () => file }) as unknown as Stats;
  it('wants a root-owned regular file, owner r+x, not group/other writable', () => {
    expect([0o500, 0o700, 0o755].map((m) => hookPermissionsOk(st(m), false))).toEqual([true, true, true]);
    expect([0o775, 0o400, 0o757].map((m) => hookPermissionsOk(st(m), false))).toEqual([false, false, false]);
    expect(hookPermissionsOk(st(0o500, 1002), false)).toBe(false);
    expect(hookPermissionsOk(st(0o500, 0, false), false)).toBe(false);
  });
  it('a hook run as the owner must also be other r+x', () => {
    expect([0o500, 0o555, 0o505, 0o554].map((m) => hookPermissionsOk(st(m), true))).toEqual([false, true, true, false]);
  });
});
