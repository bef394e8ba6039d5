import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { jobDirName } from '../../src/core/contract/job-state.v1.js';
import type { VmRequest } from '../../src/core/request/types.js';
import { observeNode, openLibvirt, startJobVms, stopJobVms } from '../../src/engine/index.js';
import { engineContext, engineSite, startInput } from '../engine/engine-harness.js';
import { callHook, DIRECT_RESOURCES, epilogueArgv, expectToldWhy, HOST, prologueArgv, stageJob, unstageJob, vmJobScript, type DirectJob, type HookCall, type HookSite } from '../hooks/fixture.js';

// Hostile job owners and other users against the installed hooks (security round 2): the owner
// rewrites the .SC Torque gave him, plants or blocks cancel markers, forges a request that skips
// vsub's memory raise, or pbs_mom hands over names we refuse. Each case asserts concretely.

export type Case = [string, () => Promise<void>];
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];

/** The cases, over one hook site (made by the caller's beforeAll). */
export function ownerCases(site: () => HookSite): Case[] {
  let seq = 0;
  const s = (): HookSite => site();
  const nextId = (): string => `${7000 + ++seq}.${HOST}`;
  const jobDir = (id: string): string => join(s().spool, 'jobs', jobDirName(id));
  const cancelDir = (): string => join(s().spool, 'cancel');
  const asOwner = (args: string[]): number | null => spawnSync('setpriv', [`--reuid=${s().uid}`, `--regid=${s().uid}`, '--clear-groups', '--', ...args]).status;
  const asNobody = (args: string[]): number | null => spawnSync('setpriv', [...NOBODY, ...args]).status;
  const timed = async (fn: () => Promise<HookCall>): Promise<HookCall & { ms: number }> => {
    const t0 = performance.now();
    const r = await fn();
    return { ...r, ms: performance.now() - t0 };
  };
  /** A VM job started by the installed prologue (rc 0 asserted). */
  const started = async (request: Partial<VmRequest> = {}, slots = 2): Promise<DirectJob> => {
    const job = stageJob(s(), nextId(), vmJobScript(request), slots);
    const pro = await callHook(s(), 'prologue', prologueArgv(job), job.nodefile);
    expect(pro.rc, pro.stdout + pro.stderr).toBe(0);
    return job;
  };
  const epilogue = (job: DirectJob): Promise<HookCall & { ms: number }> => timed(() => callHook(s(), 'epilogue', epilogueArgv(job), job.nodefile));
  /** The owner rewrites his .SC (Torque chowns it to him at job start): here, as root, with his text. */
  const rewriteSc = (job: DirectJob, text: string, sparseGiB = 0): void => {
    writeFileSync(job.sc, text);
    if (sparseGiB > 0) spawnSync('truncate', ['-s', `${sparseGiB}G`, job.sc]);
  };
  /** Nothing of the job is left on the node: job dir, record, cancel directory. */
  const gone = (job: DirectJob): void => {
    expect(existsSync(jobDir(job.jobId)), 'job dir').toBe(false);
    expect(existsSync(join(s().spool, 'records', `${jobDirName(job.jobId)}.json`)), 'record').toBe(false);
    expect(existsSync(join(cancelDir(), jobDirName(job.jobId))), 'cancel dir').toBe(false);
  };
  /** Admin component commands that log `<name> <phase> <min> <max>` into ctl/components.log. */
  const components = (): (() => string[]) => {
    const log = join(s().ctl, 'components.log');
    const script = join(s().ctl, 'component.sh');
    writeFileSync(script, `#!/bin/sh\necho "$1 $VTORQUE_PHASE $VTORQUE_IOCM_MIN_CORES $VTORQUE_IOCM_MAX_CORES" >> '${log}'\n`, { mode: 0o755 });
    s().configure({
      IOCM_ENABLED: true, IOCM_MIN_CORES: 1, IOCM_MAX_CORES: 4, IOCM_START_CMD: [script, 'iocm'], IOCM_STOP_CMD: [script, 'iocm'],
      VRDMA_ENABLED: true, VRDMA_START_CMD: [script, 'vrdma'], VRDMA_STOP_CMD: [script, 'vrdma'],
    });
    return () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.trimEnd()) : []);
  };
  const withComponents = { iocm: true, vrdma: true, iocm_min_cores: 2, iocm_max_cores: 3 } as const;
  const legacyCancelDir = (): void => {
    mkdirSync(cancelDir(), { recursive: true });
    chmodSync(cancelDir(), 0o1733);
  };

  return [
    // ---- 1. the epilogue side is never steered by the owner's .SC
    ['prologue front: a .SC with an 8 GiB sparse first line is not read (plain job, at once, no Node)', async () => {
      const job = stageJob(s(), nextId(), '#!/bin/sh ', 2);
      spawnSync('truncate', ['-s', '8G', job.sc]);
      try {
        const pro = await timed(() => callHook(s(), 'prologue', prologueArgv(job), job.nodefile));
        expect(pro.rc).toBe(0);
        expect(pro.ms).toBeLessThan(3000);
        expect(existsSync(join(s().logDir, 'prologue.log'))).toBe(false);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['epilogue: the .SC rewritten to an 8 GiB sparse first line after the start: teardown complete, at once', async () => {
      const job = await started();
      try {
        rewriteSc(job, '#!/bin/sh ', 8);
        const epi = await epilogue(job);
        expect(epi.rc).toBe(0);
        expect(epi.ms, 'well inside any alarm').toBeLessThan(5000);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['epilogue: a forged request switching IOcm and vRDMA off: both are still stopped, with the prologue\'s values', async () => {
      const log = components();
      const job = await started(withComponents, 5);
      try {
        rewriteSc(job, vmJobScript({ iocm: false, vrdma: false }));
        expect((await epilogue(job)).rc).toBe(0);
        expect(log()).toEqual(['vrdma start', 'iocm start 2 3', 'iocm stop 2 3', 'vrdma stop']);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['epilogue: forged IOcm cores out of range (9999/99999) never reach the admin\'s stop command', async () => {
      const log = components();
      const job = await started(withComponents, 5);
      try {
        rewriteSc(job, vmJobScript({ ...withComponents, iocm_min_cores: 9999, iocm_max_cores: 99999 }));
        expect((await epilogue(job)).rc).toBe(0);
        expect(log().filter((l) => l.includes('stop'))).toEqual(['iocm stop 2 3', 'vrdma stop']);
        expect(log().join('\n')).not.toContain('9999');
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['epilogue: forged debug on keeps nothing: no job dir, no console log after teardown', async () => {
      const job = await started();
      try {
        const vm = readdirSync(join(jobDir(job.jobId), 'vms'))[0] as string;
        writeFileSync(join(jobDir(job.jobId), 'vms', vm, 'console.log'), 'boot messages\n');
        rewriteSc(job, vmJobScript({ debug: true, trace: true }));
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['epilogue: the .SC removed, or replaced by a plain script, after the start: teardown by root\'s record alone', async () => {
      for (const change of ['remove', 'plain'] as const) {
        const job = await started();
        try {
          if (change === 'remove') rmSync(job.sc);
          else rewriteSc(job, '#!/bin/sh\necho plain\n');
          expect((await epilogue(job)).rc).toBe(0);
          gone(job);
        } finally {
          unstageJob(s(), job);
        }
      }
    }],
    ['epilogue: a forged VM request in a plain job\'s .SC (no record) never starts Node', async () => {
      const job = stageJob(s(), nextId(), '#!/bin/sh\necho plain\n', 2);
      try {
        expect((await callHook(s(), 'prologue', prologueArgv(job), job.nodefile)).rc).toBe(0);
        rewriteSc(job, vmJobScript({ vcpus: 2 }));
        expect((await epilogue(job)).rc).toBe(0);
        expect(existsSync(join(s().logDir, 'epilogue.log'))).toBe(false);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['root\'s record is out of the owner\'s reach: records/ is root 0700, the record root 0600; the owner can neither read nor plant one', async () => {
      const job = await started();
      try {
        const dir = join(s().spool, 'records');
        const rec = join(dir, `${jobDirName(job.jobId)}.json`);
        expect([statSync(dir).uid, statSync(dir).mode & 0o7777]).toEqual([0, 0o700]);
        expect([statSync(rec).uid, statSync(rec).mode & 0o7777]).toEqual([0, 0o600]);
        expect(asOwner(['cat', rec])).not.toBe(0);
        expect(asOwner(['touch', join(dir, '99999.x.json')])).not.toBe(0);
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    // ---- 2. cancel markers nobody else can plant, link or block
    ['cancel: another user\'s planted directory (older sticky dir) is replaced: not cancelled, the parent becomes root 0711', async () => {
      legacyCancelDir();
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        expect(asNobody(['mkdir', '-p', join(cancelDir(), job.jobId, 'requested')])).toBe(0);
        const pro = await callHook(s(), 'prologue', prologueArgv(job), job.nodefile);
        expect(pro.rc).toBe(0);
        expect(pro.stdout).not.toContain('cancelled');
        expect(statSync(cancelDir()).mode & 0o7777).toBe(0o711);
        expect(statSync(join(cancelDir(), job.jobId)).uid).toBe(s().uid);
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['cancel: another user\'s symlink to the victim\'s file in the job\'s place is removed, never followed; the victim\'s file is untouched', async () => {
      legacyCancelDir();
      const victim = join(s().home, `.vtq-victim-${process.pid}`);
      writeFileSync(victim, 'precious\n', { mode: 0o600 });
      spawnSync('chown', [`${s().uid}:${s().uid}`, victim]);
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        expect(asNobody(['ln', '-s', victim, join(cancelDir(), job.jobId)])).toBe(0);
        expect((await callHook(s(), 'prologue', prologueArgv(job), job.nodefile)).rc).toBe(0);
        expect(lstatSync(join(cancelDir(), job.jobId)).isDirectory()).toBe(true);
        const pc = await callHook(s(), 'epilogue.precancel', epilogueArgv(job));
        expect(pc.rc).toBe(0);
        expect(readFileSync(victim, 'utf8')).toBe('precious\n');
        expect((await epilogue(job)).rc).toBe(0);
        expect(readFileSync(victim, 'utf8')).toBe('precious\n');
        gone(job);
      } finally {
        rmSync(victim, { force: true });
        unstageJob(s(), job);
      }
    }],
    ['cancel: another user\'s FIFO in the job\'s place blocks nothing (prologue, precancel, epilogue all return)', async () => {
      legacyCancelDir();
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        expect(asNobody(['mkfifo', join(cancelDir(), job.jobId)])).toBe(0);
        const pro = await timed(() => callHook(s(), 'prologue', prologueArgv(job), job.nodefile));
        expect(pro.rc).toBe(0);
        const pc = await timed(() => callHook(s(), 'epilogue.precancel', epilogueArgv(job)));
        expect([pc.rc, pc.ms < 3000]).toEqual([0, true]);
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['cancel: once the start made it, nobody else can make an entry in the cancel dir or the job\'s directory', async () => {
      const job = await started();
      try {
        expect(asNobody(['mkdir', join(cancelDir(), job.jobId, 'requested')])).not.toBe(0);
        expect(asNobody(['mkdir', join(cancelDir(), '99998.x')])).not.toBe(0);
        expect(asNobody(['ls', join(cancelDir(), job.jobId)])).not.toBe(0);
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['cancel: the owner\'s own FIFO or symlink as the marker is only lstat-ed (counts as a cancel), never opened or followed', async () => {
      for (const kind of ['fifo', 'symlink'] as const) {
        const job = stageJob(s(), nextId(), vmJobScript(), 2);
        try {
          const marker = `'${join(cancelDir(), job.jobId, 'requested')}'`;
          const make = kind === 'fifo' ? `mkfifo ${marker}` : `ln -s /etc/shadow ${marker}`;
          // A site prologue runs after the front made the owner's directory: the owner acts there.
          s().site('prologue', { sh: `setpriv --reuid=${s().uid} --regid=${s().uid} --clear-groups -- sh -c "${make}"` });
          const pro = await timed(() => callHook(s(), 'prologue', prologueArgv(job), job.nodefile));
          expectToldWhy(s(), job.jobId, pro, 'cancelled', 'cancel');
          expect(pro.ms).toBeLessThan(10_000);
          expect(statSync('/etc/shadow').uid).toBe(0);
          s().site('prologue', {});
          expect((await epilogue(job)).rc).toBe(0);
          gone(job);
        } finally {
          s().site('prologue', {});
          unstageJob(s(), job);
        }
      }
    }],
    ['cancel: the owner filling his cancel directory with 20000 entries cannot stall the epilogue past its bound', async () => {
      const job = await started();
      try {
        const dir = join(cancelDir(), job.jobId);
        expect(asOwner(['sh', '-c', `cd '${dir}' && i=0; while [ $i -lt 20000 ]; do : > f$i; i=$((i+1)); done`])).toBe(0);
        const epi = await epilogue(job);
        expect(epi.ms).toBeLessThan(10_000);
        expect(existsSync(jobDir(job.jobId))).toBe(false); // the VMs and files went; only the cancel dir waits for gc
        expect(statSync(dir).uid, 'taken back from the owner first').toBe(0);
      } finally {
        rmSync(join(cancelDir(), job.jobId), { recursive: true, force: true });
        unstageJob(s(), job);
      }
    }],
    ['cancel: the precancel front exits with the site hook\'s verdict whether or not its marker can be made', async () => {
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        s().site('epilogue.precancel', { rc: 7 });
        expect((await callHook(s(), 'epilogue.precancel', epilogueArgv(job))).rc).toBe(7); // no directory
        mkdirSync(join(cancelDir(), job.jobId), { recursive: true });
        expect((await callHook(s(), 'epilogue.precancel', epilogueArgv(job))).rc).toBe(7); // root's: EACCES for the owner
        expect(existsSync(join(cancelDir(), job.jobId, 'requested'))).toBe(false);
      } finally {
        s().site('epilogue.precancel', {});
        rmSync(join(cancelDir(), job.jobId), { recursive: true, force: true });
        unstageJob(s(), job);
      }
    }],
    // ---- 3. memory against what Torque allocated
    ...([
      ['forged ram=4096 MiB with mem=1gb allocated', { ram: 4096 }, DIRECT_RESOURCES, 2, 'Torque gave this job 1024 MiB'],
      ['no mem, pmem or vmem in the resource list at all', {}, 'nodes=1:ppn=2,neednodes=1:ppn=2', 2, 'asked Torque for no memory'],
      ['pmem=100mb x 2 slots below the VM\'s 256 MiB', {}, 'nodes=1:ppn=2,pmem=100mb', 2, 'Torque gave this job 200 MiB'],
      ['vmem=128mb binds below mem=8gb (the smallest limit counts)', {}, 'nodes=1:ppn=2,mem=8gb,vmem=128mb', 2, 'vmem=128mb'],
      ['mem pushed out of pbs_mom\'s 2048-byte resource string (a huge other resource)', {}, `nodes=1:ppn=2,other=${'x'.repeat(2000)}`, 2, 'asked Torque for no memory'],
      ['a mem value that is no Torque size', {}, 'nodes=1:ppn=2,mem=lots', 2, 'not a Torque size'],
      ['2 VMs x 512 MiB against mem=1000mb', { vms_per_node: 2, ram: 512 }, 'nodes=1:ppn=3,mem=1000mb', 3, 'its VMs need 1024 MiB'],
    ] as const).map(([what, request, resources, slots, needle]): Case => [`memory: ${what} → refused, the owner told why`, async () => {
      const job = stageJob(s(), nextId(), vmJobScript(request), slots);
      try {
        const pro = await callHook(s(), 'prologue', prologueArgv(job, true, resources), job.nodefile);
        expectToldWhy(s(), job.jobId, pro, needle);
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }]),
    ['memory: pmem=128mb x 2 slots covers the VM\'s 256 MiB (per slot, as Torque means it): accepted', async () => {
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        expect((await callHook(s(), 'prologue', prologueArgv(job, true, 'nodes=1:ppn=2,pmem=128mb'), job.nodefile)).rc).toBe(0);
        expect((await epilogue(job)).rc).toBe(0);
      } finally {
        unstageJob(s(), job);
      }
    }],
    ['memory: two forged jobs each asking for most of a node: the second is refused as a node fault (running domains already hold it)', async () => {
      const lv = await openLibvirt('test:///default');
      const { config, baseImage, root } = engineSite({ HOST_OS_RAM_MB: 512 });
      try {
        const ctx = engineContext(config, lv);
        // The driver's own running domain "test" holds memory too: the node has room for one job beside it.
        const held = (await observeNode('node01', { cores: 8, memMiB: 0, numa: {} }, lv)).heldMemMiB;
        const capacity = { cores: 8, memMiB: held + 512 + 10_240, numa: { 0: [0, 1, 2, 3, 4, 5, 6, 7] } };
        const nodes = { name: 'node01', observe: () => observeNode('node01', capacity, lv) };
        const a = `${process.pid}1.mem`;
        const b = `${process.pid}2.mem`;
        await startJobVms({ ...startInput(a, baseImage, { ram: 6144, vms_per_node: 1, vcpus: 1, vcpu_pinning: false }), nodes }, ctx);
        const err = await startJobVms({ ...startInput(b, baseImage, { ram: 6144, vms_per_node: 1, vcpus: 1, vcpu_pinning: false }), nodes }, ctx).then(() => null, (e: unknown) => e as { message: string; fault: string });
        expect(err?.message).toContain(`running domains already hold ${held + 6144} MiB`);
        expect(err?.fault).toBe('node');
        await stopJobVms(a, ctx, { keepLogs: false });
      } finally {
        await lv.close();
        rmSync(root, { recursive: true, force: true });
      }
    }],
    // ---- 6. names pbs_mom passes that we refuse: the reason where the owner reads it
    ...([
      ['a group name with a newline', (a: string[]) => void (a[2] = 'grp\nevil')],
      ['a group name with shell metacharacters', (a: string[]) => void (a[2] = 'g$(touch x);id')],
    ] as const).map(([what, mutate]): Case => [`prologue: ${what} from pbs_mom → refused, the owner told why (with his primary group)`, async () => {
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        const argv = prologueArgv(job);
        mutate(argv);
        const pro = await callHook(s(), 'prologue', argv, job.nodefile);
        expectToldWhy(s(), job.jobId, pro, 'expected user and group names');
        expect((await epilogue(job)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }]),
    ...([
      ['a user name with shell metacharacters', (a: string[]) => void (a[1] = 'bob$(touch x)')],
      ['a 200-character user name', (a: string[]) => void (a[1] = 'u'.repeat(200))],
    ] as const).map(([what, mutate]): Case => [`prologue: ${what} from pbs_mom → aborted (no owner to tell), the reason in the job's spool output, nothing made`, async () => {
      const job = stageJob(s(), nextId(), vmJobScript(), 2);
      try {
        const argv = prologueArgv(job);
        mutate(argv);
        const pro = await callHook(s(), 'prologue', argv, job.nodefile);
        expect(pro.rc).toBe(1);
        expect(pro.stdout).toMatch(/vTorque: the VM job cannot start: job owner .* expected user and group names .*The job is aborted\./);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }]),
    ['epilogue: a user name we would refuse does not stop the teardown (root\'s record says who)', async () => {
      const job = await started();
      try {
        const argv = epilogueArgv(job);
        argv[1] = 'not a name';
        expect((await callHook(s(), 'epilogue', argv, job.nodefile)).rc).toBe(0);
        gone(job);
      } finally {
        unstageJob(s(), job);
      }
    }],
  ];
}
