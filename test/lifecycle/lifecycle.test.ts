import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NODE_FILE_DIR } from '../../src/core/contract/guest-layout.v1.js';
import { jobDirName } from '../../src/core/contract/job-state.v1.js';
import type { SiteConfig } from '../../src/core/config/index.js';
import { layoutAt } from '../../src/core/install/paths.js';
import type { VmRequest } from '../../src/core/request/index.js';
import { resolveOwner, startJob, stopJobHere, stopJobPartHere, type GuestEnvInput, type JobContext, type JobOwner } from '../../src/lifecycle/index.js';
import { agentConnector } from '../../src/lifecycle/sisters.js';
import { connectNode, type RemoteNode } from '../../src/engine/index.js';
import { engineSite } from '../engine/engine-harness.js';
import { entries, IMAGE, makeHookSite, REPO, TEST_USER, type HookSite } from '../hooks/fixture.js';

// The lifecycle as a second scheduler adapter would drive it: a job context that names no Torque
// file or variable (Slurm's names, Slurm's submit command), against libvirt's test driver. The
// Torque adapter is covered through the installed hooks (test/hooks, test/torque).
let s: HookSite;
let owner: JobOwner;
beforeAll(async () => {
  s = await makeHookSite();
  owner = await resolveOwner(TEST_USER, TEST_USER);
}, 60_000);
afterAll(() => s?.cleanup());
beforeEach(() => s.reset());

const request: VmRequest = {
  version: 1, img: IMAGE, distro: 'debian', arch: 'x86_64', vcpus: 1, ram: 256, vms_per_node: 1,
  vcpu_pinning: false, disk: null, vm_prologue: null, vm_epilogue: null, fs_type: 'sharedfs', metadata: null,
  vrdma: false, iocm: false, iocm_min_cores: 1, iocm_max_cores: 4, unclot: false, unclot_shmem: 1024, debug: false, trace: false,
};
const lines: string[] = [];
const log = { info: () => undefined, warn: () => undefined };
const deps = () => ({ config: s.config(), layout: layoutAt(REPO), log, say: (l: string) => void lines.push(l) });

function slurmJob(jobId: string, over: Partial<JobContext> = {}): JobContext & { envAsked: GuestEnvInput[] } {
  const envAsked: GuestEnvInput[] = [];
  return {
    jobId,
    owner,
    request,
    requestSource: `/var/spool/slurmd/job${jobId}/slurm_script`,
    script: '#!/bin/sh\necho hi\n',
    allocation: [{ name: 'node01', slots: 2, memory: { mib: 1024, basis: '--mem=1024' } }],
    deadlineAt: Date.now() + 60_000,
    scheduler: { name: 'Slurm', submit: 'vsbatch' },
    guestEnv: (g) => {
      envAsked.push(g);
      return { SLURM_JOB_ID: jobId, SLURM_JOB_NODELIST: 'node01', VTQ_NODEFILE: g.nodeFile };
    },
    isActive: () => true,
    envAsked,
    ...over,
  };
}
const stateDirs = (): string[] => entries(join(s.spool, 'jobs'));
/** Every file a node's prepare made for the job, as text: the NoCloud seeds carry the guest's job environment verbatim. */
function seedText(spool: string, jobId: string): string {
  const dir = join(spool, 'jobs', jobDirName(jobId));
  return (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f)).filter((f) => statSync(f).isFile()).map((f) => readFileSync(f, 'latin1')).join('\n');
}

describe('the scheduler-neutral lifecycle', () => {
  it('starts a job from a context that names no Torque file, leaves its state for the runner, and stops it from its record alone', async () => {
    const job = slurmJob('41');
    const out = await startJob(job, deps());
    expect(out).toMatchObject({ kind: 'running' });
    if (out.kind !== 'running') return;
    expect(out.vms.map((v) => [v.rank, v.node])).toEqual([[0, 'node01']]);
    expect(out.timeline.map((m) => m.phase)).toEqual(['plan', 'prepare', 'boot']);
    // The adapter's variables, asked once with the guest's node file, the job's slots and its VMs per host.
    expect(job.envAsked).toEqual([{ nodeFile: `${NODE_FILE_DIR}/${jobDirName('41')}`, slots: 1, hosts: [{ name: 'node01', vms: 1 }] }]);
    const state = JSON.parse(readFileSync(join(s.spool, 'jobs', jobDirName('41'), 'job.json'), 'utf8')) as { user: string; vms: unknown[] };
    expect(state.user).toBe(TEST_USER);
    expect(state.vms).toHaveLength(1);
    const stopped = await stopJobHere('41', deps());
    expect(stopped).toMatchObject({ kind: 'stopped', ownerUid: owner.uid, problems: [], error: null });
    expect(stateDirs()).toEqual([]);
    // Idempotent: a second stop finds nothing of the job.
    expect(await stopJobHere('41', deps())).toEqual({ kind: 'not-a-vm-job' });
  });

  it('refuses what the allocation cannot hold, naming the scheduler and its submit command; nothing is made', async () => {
    const out = await startJob(slurmJob('42', { allocation: [{ name: 'node01', slots: 1, memory: { mib: 1024, basis: '--mem=1024' } }] }), deps());
    expect(out).toEqual({
      kind: 'failed',
      fault: 'job',
      reason: 'Slurm gave this job 1 core(s) on node01, its VMs need 2 (1 x 1 vCPUs + 1 for the host): submit it with vsbatch, which asks for them',
    });
    const noMemory = await startJob(slurmJob('43', { allocation: [{ name: 'node01', slots: 2, memory: null }] }), deps());
    expect(noMemory).toMatchObject({ kind: 'failed', fault: 'job', reason: expect.stringMatching(/^the job asked Slurm for no memory .*submit it with vsbatch/) });
    expect(stateDirs()).toEqual([]);
    expect(entries(join(s.spool, 'cancel'))).toEqual([]);
  });

  it('re-validates the request against the site policy: an image outside the pool is the job\'s fault', async () => {
    const out = await startJob(slurmJob('44', { request: { ...request, img: 'not-in-pool.qcow2' } }), deps());
    expect(out).toMatchObject({ kind: 'failed', fault: 'job', reason: expect.stringContaining('not-in-pool.qcow2') });
    expect(stateDirs()).toEqual([]);
  });

  it('a node that cannot run VMs (libvirt unreachable) is a node fault, and the start is undone', async () => {
    s.configure({ LIBVIRT_URI: 'qemu:///system?socket=/nonexistent/libvirt-sock' });
    const out = await startJob(slurmJob('45'), deps());
    expect(out).toMatchObject({ kind: 'failed', fault: 'node' });
    expect(stateDirs()).toEqual([]);
    expect(await stopJobHere('45', deps())).toEqual({ kind: 'not-a-vm-job' });
  });
});

describe('the lifecycle over several nodes (the head here, the others through their node agents)', () => {
  const capacity = { cores: 16, memMiB: 65536, numa: { 0: [...Array(16).keys()] } };
  const alloc = (name: string) => ({ name, slots: 2, memory: { mib: 1024, basis: '--mem=1024' } });
  /** A node agent per name, each its own process with its own test:///default and spool (a second host). */
  function agentsFor(names: readonly string[]) {
    const sites = new Map(names.map((name) => {
      const e = engineSite();
      return [name, { ...s.config(), SPOOL_DIR: e.config.SPOOL_DIR, RAMDISK_DIR: e.config.RAMDISK_DIR }] as const;
    }));
    const opened: RemoteNode[] = [];
    const connect = async (name: string): Promise<RemoteNode> => {
      const config = sites.get(name);
      if (!config) throw new Error(`injected: no route to ${name}`);
      const node = await connectNode({ name, argv: [join(REPO, 'node_modules', '.bin', 'tsx'), join(REPO, 'test', 'engine', 'node-agent.fixture.ts'), JSON.stringify({ name, config, capacity })], callTimeoutMs: 30_000, log });
      opened.push(node);
      return node;
    };
    return { sites, connect, opened };
  }

  it('starts one job on this node and two others in rank order, tells the guest the slots of all of them, and the stop tears every node down', async () => {
    const { sites, connect } = agentsFor(['node02', 'node03']);
    const job = slurmJob('51', { allocation: [alloc('node01'), alloc('node02'), alloc('node03')] });
    const out = await startJob(job, { ...deps(), connect });
    expect(out).toMatchObject({ kind: 'running' });
    if (out.kind !== 'running') return;
    expect(out.vms.map((v) => [v.rank, v.node])).toEqual([[0, 'node01'], [1, 'node02'], [2, 'node03']]);
    expect(job.envAsked).toEqual([{ nodeFile: `${NODE_FILE_DIR}/${jobDirName('51')}`, slots: 3, hosts: [{ name: 'node01', vms: 1 }, { name: 'node02', vms: 1 }, { name: 'node03', vms: 1 }] }]);
    for (const [name, config] of sites) expect(entries(join(config.SPOOL_DIR, 'jobs')), name).toEqual([jobDirName('51')]);
    // The guest is told the layout in vTorque's own variables, whatever the scheduler: in every node's seed.
    for (const config of [s.config(), ...sites.values()]) expect(seedText(config.SPOOL_DIR, '51')).toContain('export VTORQUE_VM_LAYOUT=node01:1,node02:1,node03:1');
    const stopped = await stopJobHere('51', { ...deps(), connect });
    expect(stopped).toMatchObject({ kind: 'stopped', problems: [], error: null });
    expect(stateDirs()).toEqual([]);
    for (const [name, config] of sites) expect(entries(join(config.SPOOL_DIR, 'jobs')), name).toEqual([]);
  }, 60_000);

  it('a node of the job that cannot be reached: a node fault naming it, and nothing is left here or on the node that was reached', async () => {
    const { sites, connect } = agentsFor(['node02']);
    const out = await startJob(slurmJob('52', { allocation: [alloc('node01'), alloc('node02'), alloc('node09')] }), { ...deps(), connect });
    expect(out).toMatchObject({ kind: 'failed', fault: 'node', reason: expect.stringMatching(/cannot reach 1 node\(s\) of the job: node09: injected: no route to node09/) });
    expect(stateDirs()).toEqual([]);
    expect(entries(join(sites.get('node02')?.SPOOL_DIR as string, 'jobs'))).toEqual([]);
    expect(await stopJobHere('52', { ...deps(), connect })).toEqual({ kind: 'not-a-vm-job' });
  }, 60_000);

  it('the site\'s agent command is filled element by element, and a node name that is no host name never reaches it', async () => {
    const echo = agentConnector({ ...s.config(), NODE_AGENT_COMMAND: ['/bin/sh', '-c', 'echo "$0" >&2; exit 3', 'root@{node} {vtorque}'] }, layoutAt(REPO), log);
    await expect(echo('node02')).rejects.toThrow(/node node02: its node agent ended \(exit 3\): root@node02 \/.*\/dist\/vtorque\.mjs/);
    await expect(echo('n1;reboot')).rejects.toThrow(/node name "n1;reboot" from the scheduler is not a host name/);
  });

  it('what another node was given is checked too: too few cores there is the job\'s fault, before anything is made', async () => {
    const { connect } = agentsFor(['node02']);
    const out = await startJob(slurmJob('53', { allocation: [alloc('node01'), { name: 'node02', slots: 1, memory: { mib: 1024, basis: '--mem=1024' } }] }), { ...deps(), connect });
    expect(out).toMatchObject({ kind: 'failed', fault: 'job', reason: expect.stringContaining('Slurm gave this job 1 core(s) on node02') });
    expect(stateDirs()).toEqual([]);
  });

  it('a node of the job that is not its head stops only its own part, from its own spool, and reaches no other node', async () => {
    const { sites, connect } = agentsFor(['node02']);
    const out = await startJob(slurmJob('54', { allocation: [alloc('node01'), alloc('node02')] }), { ...deps(), connect });
    expect(out).toMatchObject({ kind: 'running' });
    const node02 = sites.get('node02') as SiteConfig;
    expect(entries(join(node02.SPOOL_DIR, 'jobs'))).toEqual([jobDirName('54')]);
    // As node02's own stop (a Torque sister's epilogue.parallel) runs it: no record there, only the job state its agent prepared.
    expect(entries(join(node02.SPOOL_DIR, 'records'))).toEqual([]);
    const reached: string[] = [];
    const noConnect = (name: string): Promise<RemoteNode> => (reached.push(name), Promise.reject(new Error('not to be reached')));
    // Its VMs through its own agent (here: node02's, as a child process), never in this process's libvirt.
    const part = await stopJobPartHere('54', { config: node02, layout: layoutAt(REPO), log, connect: noConnect, ownAgent: () => connect('node02') });
    expect(part).toMatchObject({ kind: 'stopped', ownerUid: null, problems: [], error: null });
    expect(entries(join(node02.SPOOL_DIR, 'jobs'))).toEqual([]);
    expect(await stopJobPartHere('54', { config: node02, layout: layoutAt(REPO), log, connect: noConnect, ownAgent: noConnect })).toEqual({ kind: 'not-a-vm-job' });
    // This node's own record names node02; stopped as a part (never the head's way), it still reaches nobody.
    expect(await stopJobPartHere('54', { ...deps(), connect: noConnect })).toMatchObject({ kind: 'stopped', problems: [], error: null });
    expect(reached).toEqual([]);
    expect(stateDirs()).toEqual([]);
  }, 60_000);

  it('a stop is bounded by its deadline: an agent that never answers leaves the rest for gc, and the outcome says so', async () => {
    const { connect } = agentsFor(['node02']);
    const out = await startJob(slurmJob('55', { allocation: [alloc('node01'), alloc('node02')] }), { ...deps(), connect });
    expect(out).toMatchObject({ kind: 'running' });
    const hangs = (): Promise<RemoteNode> => new Promise(() => undefined);
    const t0 = Date.now();
    const stopped = await stopJobHere('55', { ...deps(), connect: hangs, deadlineAt: Date.now() + 500 });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(stopped).toMatchObject({ kind: 'stopped', ownerUid: owner.uid, error: expect.stringMatching(/^the teardown of job 55 on this node: no answer within \d+ ms \(what is left stays for `vtorque gc`\)$/) });
    // Nothing was lost: the record still names the job's nodes, and the next stop finishes.
    expect(await stopJobHere('55', { ...deps(), connect })).toMatchObject({ kind: 'stopped', problems: [], error: null });
    expect(stateDirs()).toEqual([]);
  }, 60_000);
});
