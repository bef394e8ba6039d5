import { spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../core/config/validate.js';
import { jobScheduler } from '../scheduler-env.js';
import { loadJobRun, readOutcome } from './load-job.js';

const sandbox = mkdtempSync(join(tmpdir(), 'vtq-load-job-'));
afterAll(() => rmSync(sandbox, { recursive: true, force: true }));
const isRoot = process.getuid?.() === 0;
const uid = process.getuid?.() ?? 0;

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx6N0cXjKGtNKsqQOyl3NmjH6DV5MqYAd7MjOl8XB2y vm0';
const JOB = '7[3].srv';
const DIR = '7_3_.srv';

function spool(over: { job?: object; vms?: unknown; key?: string } = {}, dirName = DIR): { config: ReturnType<typeof defaultConfig>; dir: string } {
  const root = mkdtempSync(join(sandbox, 'spool-'));
  const dir = join(root, 'jobs', dirName);
  mkdirSync(join(dir, 'ssh'), { recursive: true });
  const job = { version: 1, jobId: JOB, user: 'alice', guestJobDir: DIR, vms: [], vmPrologue: null, vmEpilogue: 'echo bye\n', ...over.job };
  const vms = over.vms ?? [
    { name: 'vm1', rank: 1, ip: '10.0.0.2', hostKey: HOST_KEY, node: 'n', hostname: 'h', mac: 'm', vcpus: 1, persistentDisk: false },
    { name: 'vm0', rank: 0, ip: '10.0.0.1', hostKey: HOST_KEY, node: 'n', hostname: 'h', mac: 'm', vcpus: 1, persistentDisk: false },
  ];
  writeFileSync(join(dir, 'job.json'), JSON.stringify(job), { mode: 0o400 });
  writeFileSync(join(dir, 'job-script'), Buffer.from([0x23, 0x21, 0xff, 0x0a]), { mode: 0o400 });
  writeFileSync(join(dir, 'ssh', 'id_ed25519'), over.key ?? KEY, { mode: 0o600 });
  writeFileSync(join(dir, 'vms.json'), JSON.stringify(vms), { mode: 0o644 });
  return { config: { ...defaultConfig(), SPOOL_DIR: root }, dir };
}

/** A real (unencrypted) ed25519 private key, as the prologue's ssh-keygen writes it. */
function privateKey(): string {
  const file = join(mkdtempSync(join(sandbox, 'key-')), 'k');
  spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  return readFileSync(file, 'utf8');
}
const KEY = privateKey();

const load = (config: ReturnType<typeof defaultConfig>, jobId = JOB) => loadJobRun(config, jobScheduler({ PBS_JOBID: jobId }), uid);

describe('loadJobRun', () => {
  it('reads the state files, VMs in rank order, the script byte for byte', () => {
    const { config } = spool();
    const run = load(config);
    expect(run).toMatchObject({ jobId: JOB, user: 'alice', guestJobDir: DIR, vmPrologue: null, vmEpilogue: 'echo bye\n' });
    expect(run.vms.map((v) => [v.name, v.rank, v.ip])).toEqual([['vm0', 0, '10.0.0.1'], ['vm1', 1, '10.0.0.2']]);
    expect(run.script).toEqual(Buffer.from([0x23, 0x21, 0xff, 0x0a]));
    expect(run.privateKey.toString()).toBe(KEY);
  });

  it('reads a Slurm job\'s state by SLURM_JOB_ID and names that variable when it is another job\'s', () => {
    const { config } = spool({ job: { jobId: '4242', guestJobDir: '4242' } }, '4242');
    expect(loadJobRun(config, jobScheduler({ SLURM_JOB_ID: '4242' }), uid)).toMatchObject({ jobId: '4242', guestJobDir: '4242' });
    const other = spool({ job: { jobId: '4243', guestJobDir: '4242' } }, '4242');
    expect(() => loadJobRun(other.config, jobScheduler({ SLURM_JOB_ID: '4242' }), uid)).toThrow(/is for job "4243", not SLURM_JOB_ID "4242"/);
  });

  it('reads no outcome when the prologue left none, and refuses one of another job by the scheduler\'s variable', () => {
    const { config, dir } = spool({ job: { jobId: '4242', guestJobDir: '4242' } }, '4242');
    const slurm = jobScheduler({ SLURM_JOB_ID: '4242' });
    expect(readOutcome(config, slurm, uid)).toBeNull();
    writeFileSync(join(dir, 'outcome.json'), JSON.stringify({ version: 1, jobId: '4241', fault: 'job', reason: 'r', exitCode: 65 }), { mode: 0o400 });
    expect(() => readOutcome(config, slurm, uid)).toThrow(/outcome\.json: is for job "4241", not SLURM_JOB_ID "4242"/);
  });

  it('says which file is missing and why that may be', () => {
    const { config, dir } = spool();
    unlinkSync(join(dir, 'job-script'));
    expect(() => load(config)).toThrow(/job state .*\/job-script: does not exist \(did the vTorque prologue start/);
  });

  it('follows no symlink', () => {
    const { config, dir } = spool();
    unlinkSync(join(dir, 'vms.json'));
    writeFileSync(join(dir, 'elsewhere.json'), '[]');
    symlinkSync(join(dir, 'elsewhere.json'), join(dir, 'vms.json'));
    expect(() => load(config)).toThrow(/vms\.json: is a symbolic link/);
  });

  it.skipIf(!isRoot)('takes vms.json (addresses and host keys) only from root, the rest only from the job owner', () => {
    const a = spool();
    chownSync(join(a.dir, 'vms.json'), 12345, 12345);
    expect(() => load(a.config)).toThrow(/vms\.json: is owned by uid 12345, expected uid 0 \(root\)/);
    const b = spool();
    chownSync(join(b.dir, 'job.json'), 12345, 12345);
    expect(() => load(b.config)).toThrow(/job\.json: is owned by uid 12345, expected uid 0 \(the job owner\)/);
  });

  it('refuses state of another job', () => {
    const { config } = spool({ job: { jobId: '8.srv' } });
    expect(() => load(config)).toThrow(/is for job "8\.srv", not PBS_JOBID "7\[3\]\.srv"/);
    const other = spool({ job: { guestJobDir: 'x' } });
    expect(() => load(other.config)).toThrow(/guestJobDir "x" does not belong to job/);
  });

  it('refuses a key ssh cannot use', () => {
    const { config } = spool({ key: 'not a key' });
    expect(() => load(config)).toThrow(/ssh\/id_ed25519: is not a usable private key/);
  });

  it('re-parses job.json', () => {
    const { config } = spool({ job: { version: 2, user: 'a b' } });
    expect(() => load(config)).toThrow(/job\.json: version = 2: expected 1\n.*job\.json: user = "a b": expected a user name/);
  });

  it.each([
    ['no rank 0', [{ name: 'vm1', node: 'n', rank: 1, ip: '10.0.0.2', hostKey: HOST_KEY }], /has no VM of rank 0/],
    ['no address', [{ name: 'vm0', node: 'n', rank: 0, ip: null, hostKey: HOST_KEY }], /VM vm0 has no IP address/],
    ['a bad address', [{ name: 'vm0', rank: 0, ip: '10.0.0.1; rm', hostKey: HOST_KEY }], /0\.ip = .*expected an IP address/],
    ['a bad host key', [{ name: 'vm0', node: 'n', rank: 0, ip: '10.0.0.1', hostKey: 'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIDx6N0cXjKGtNKsqQOyl3NmjH6DV5MqYAd7MjOl8XB2y' }], /VM vm0: expected host key/],
    ['no VM', [], /vms\.json: .*expected/],
  ])('refuses vms.json with %s', (_what, vms, message) => {
    const { config } = spool({ vms });
    expect(() => load(config)).toThrow(message);
  });
});
