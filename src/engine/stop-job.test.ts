import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineContext, engineSite, startInput } from '../../test/engine/engine-harness.js';
import { cancelDirPath, cancelRequested, openCancelSignal, removeCancelSignal } from './cancel-signal.js';
import { componentStops } from './components.js';
import { listJobRecords, readJobRecord, recordPath, writeJobRecord, type JobRecordV1 } from './job-record.js';
import { openLibvirt, type LibvirtNode } from './libvirt/index.js';
import { startJobVms } from './start-local.js';
import { processesOf, stopJob } from './stop-job.js';

const isRoot = process.getuid?.() === 0;
const OWNER = { uid: 65534, gid: 65534 };
const record = (jobId: string, over: Partial<JobRecordV1> = {}): JobRecordV1 => ({
  version: 1, jobId, owner: { user: 'nobody', uid: OWNER.uid }, node: 'node01', keepLogs: false,
  componentStops: [], vms: [], ramdisk: null, qemuUid: null, createdMs: 1, ...over,
});

describe('job record (root\'s own, what teardown acts on)', () => {
  const { config, root } = engineSite();
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('round-trips, root 0600 in root 0700, replaced atomically (no temporary left)', () => {
    const r = record('12[3].srv', { vms: ['vtq-12_3_.srv-node01-1'], qemuUid: 2145000000 });
    writeJobRecord(config, r);
    expect(readJobRecord(config, '12[3].srv')).toEqual(r);
    writeJobRecord(config, { ...r, keepLogs: true });
    expect(readJobRecord(config, '12[3].srv')?.keepLogs).toBe(true);
    const dir = join(config.SPOOL_DIR, 'records');
    expect(readdirSync(dir)).toEqual(['12_3_.srv.json']);
    expect([statSync(dir).mode & 0o7777, statSync(recordPath(config, '12[3].srv')).mode & 0o7777]).toEqual([0o700, 0o600]);
    expect(listJobRecords(config)).toEqual([{ jobId: '12[3].srv', record: { ...r, keepLogs: true } }]);
  });

  it('refuses a record that is not ours in shape (unknown key, wrong job, bad command), naming where', () => {
    writeFileSync(recordPath(config, '5.srv'), JSON.stringify({ ...record('5.srv'), extra: 1 }));
    expect(() => readJobRecord(config, '5.srv')).toThrow(/records\/5\.srv\.json is malformed/);
    writeFileSync(recordPath(config, '6.srv'), JSON.stringify(record('7.srv')));
    expect(() => readJobRecord(config, '6.srv')).toThrow(/belongs to job 7\.srv/);
    writeFileSync(recordPath(config, '8.srv'), JSON.stringify(record('8.srv', { componentStops: [{ name: 'iocm', argv: [], env: {} }] })));
    expect(() => readJobRecord(config, '8.srv')).toThrow(/componentStops/);
    expect(readJobRecord(config, '9.srv')).toBeNull();
  });
});

describe.skipIf(!isRoot)('cancel signal (the owner\'s own directory under root\'s 0711 cancel dir)', () => {
  const { config, root } = engineSite();
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is the owner\'s 0700; a marker of any type counts; removal takes it back first and never follows a link', () => {
    openCancelSignal(config, '20.srv', OWNER);
    const dir = cancelDirPath(config, '20.srv');
    expect([statSync(join(config.SPOOL_DIR, 'cancel')).mode & 0o7777, statSync(dir).uid, statSync(dir).mode & 0o7777]).toEqual([0o711, OWNER.uid, 0o700]);
    expect(cancelRequested(config, '20.srv')).toBe(false);
    const victim = join(root, 'victim');
    writeFileSync(victim, 'x');
    symlinkSync(victim, join(dir, 'requested'));
    expect(cancelRequested(config, '20.srv')).toBe(true);
    removeCancelSignal(config, '20.srv');
    expect(existsSync(dir)).toBe(false);
    expect(readFileSync(victim, 'utf8')).toBe('x');
  });

  it('keeps a directory the front already gave the owner (a cancel made meanwhile counts); replaces anything else', () => {
    const top = join(config.SPOOL_DIR, 'cancel');
    mkdirSync(join(top, '21.srv', 'requested'), { recursive: true });
    chmodSync(join(top, '21.srv'), 0o700);
    chownSync(join(top, '21.srv'), OWNER.uid, OWNER.gid);
    mkdirSync(join(top, '22.srv', 'requested'), { recursive: true, mode: 0o755 });
    chownSync(join(top, '22.srv'), 1234, 1234); // someone else's
    openCancelSignal(config, '21.srv', OWNER);
    openCancelSignal(config, '22.srv', OWNER);
    expect(cancelRequested(config, '21.srv')).toBe(true);
    expect(cancelRequested(config, '22.srv')).toBe(false);
    expect(statSync(join(top, '22.srv')).uid).toBe(OWNER.uid);
  });

  it('removal is bounded: a directory the owner filled beyond the bound is taken back and left for gc', () => {
    openCancelSignal(config, '23.srv', OWNER);
    const dir = cancelDirPath(config, '23.srv');
    for (let i = 0; i < 10_050; i++) writeFileSync(join(dir, `f${i}`), '');
    expect(() => removeCancelSignal(config, '23.srv')).toThrow(/more than 10000 entries/);
    expect(statSync(dir).uid).toBe(0);
    rmSync(dir, { recursive: true });
  });
});

describe.skipIf(!isRoot)('stopJob: from root\'s record and libvirt only', () => {
  let lv: LibvirtNode;
  const { config, baseImage, root } = engineSite({ QEMU_USER: 'job-uid', QEMU_UIDS: '2145100000-2145100099', COMPONENT_TIMEOUT: 5 });
  beforeAll(async () => {
    lv = await openLibvirt('test:///default');
  });
  afterAll(async () => {
    await lv.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('removes the VMs, runs the recorded stop commands with their recorded values, removes the cancel dir and the record', async () => {
    const ctx = engineContext(config, lv);
    const jobId = `${process.pid}1.stop`;
    const log = join(root, 'stops.log');
    const script = join(root, 'stop.sh');
    writeFileSync(script, `#!/bin/sh\necho "$1 $VTORQUE_PHASE $VTORQUE_IOCM_MIN_CORES" >> '${log}'\n`, { mode: 0o755 });
    const c = { ...config, IOCM_ENABLED: true, IOCM_STOP_CMD: [script, 'iocm'], VRDMA_ENABLED: true, VRDMA_STOP_CMD: [script, 'vrdma'] };
    const stops = componentStops(c, { jobId, user: 'nobody', node: 'node01', request: { iocm: true, vrdma: true, iocm_min_cores: 3, iocm_max_cores: 5 } });
    const started = await startJobVms(startInput(jobId, baseImage, { vms_per_node: 1 }), ctx);
    openCancelSignal(config, jobId, OWNER);
    writeJobRecord(config, record(jobId, { vms: started.vms.map((v) => v.name), componentStops: stops }));
    // The site config changes (components switched off) after the start: the record still says how to stop.
    const r = await stopJob(engineContext({ ...config, IOCM_ENABLED: false, VRDMA_ENABLED: false }, lv), jobId, readJobRecord(config, jobId));
    expect(r.problems).toEqual([]);
    expect(r.domains).toEqual(started.vms.map((v) => v.name));
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['iocm stop 3', 'vrdma stop']);
    expect(readJobRecord(config, jobId)).toBeNull();
    expect(existsSync(cancelDirPath(config, jobId))).toBe(false);
  });

  it('a failing stop command stays in the record (the next epilogue or gc tries it again); the rest is done', async () => {
    const ctx = engineContext(config, lv);
    const jobId = `${process.pid}2.stop`;
    const stops = [{ name: 'snap' as const, argv: ['/bin/false'], env: {} }, { name: 'iocm' as const, argv: ['/bin/true'], env: {} }];
    writeJobRecord(config, record(jobId, { componentStops: stops }));
    const r = await stopJob(ctx, jobId, readJobRecord(config, jobId));
    expect(r.problems).toHaveLength(1);
    expect(readJobRecord(config, jobId)?.componentStops).toEqual([stops[0]]);
  });

  it('kills what still runs as the job\'s qemu uid once no domain holds it, and only inside QEMU_UIDS', async () => {
    const ctx = engineContext(config, lv);
    const uid = 2145100042;
    const stray = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'sleep', '60'], { stdio: 'ignore' });
    const outside = spawn('setpriv', ['--reuid=2145200000', '--regid=2145200000', '--clear-groups', '--', 'sleep', '60'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
    try {
      expect(processesOf(uid)).toHaveLength(1);
      const jobId = `${process.pid}3.stop`;
      writeJobRecord(config, record(jobId, { vms: ['vtq-x-node01-1'], qemuUid: uid }));
      const r = await stopJob(ctx, jobId, readJobRecord(config, jobId));
      expect(r.killed).toEqual([stray.pid]);
      for (let i = 0; i < 50 && processesOf(uid).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
      expect(processesOf(uid)).toEqual([]);
      const jobOut = `${process.pid}4.stop`;
      writeJobRecord(config, record(jobOut, { vms: ['vtq-y-node01-1'], qemuUid: 2145200000 }));
      expect((await stopJob(ctx, jobOut, readJobRecord(config, jobOut))).killed).toEqual([]);
      expect(processesOf(2145200000)).toContain(outside.pid);
    } finally {
      stray.kill('SIGKILL');
      outside.kill('SIGKILL');
    }
  });
});
