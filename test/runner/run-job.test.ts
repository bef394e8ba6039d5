import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJob } from '../../src/runner/index.js';
import { makeGuestRoot, makeJobFixture, runOptions, Sink, type FixtureVm, type JobFixtureInput, type RunInput } from './job-fixture.js';
import { canRunSshd, canUnshareMounts, freePort, keygen, processesMatching, startSshd, tryKill, type TestSshd, type TestUser } from './sshd.js';

// The guest user is root here (runJob does not care who it is); every guest path sits under a
// temp guestRoot, so nothing under the real /var/spool/torque is touched.
describe.skipIf(!canRunSshd)('runJob against a real OpenSSH sshd', () => {
  let base: string;
  let keyFile: string;
  let sshd: TestSshd;
  const user = userInfo().username;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'vtq-runner-'));
    keyFile = join(base, 'id_ed25519');
    const clientKey = keygen(keyFile, 'vtorque-test-job');
    const port = await freePort(['127.0.0.1']);
    mkdirSync(join(base, 'sshd'));
    sshd = await startSshd(join(base, 'sshd'), '127.0.0.1', port, { [user]: clientKey });
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  const vm0 = (): FixtureVm => ({ name: 'vm0', rank: 0, ip: '127.0.0.1', hostKey: sshd.hostKey });
  async function run(input: Partial<JobFixtureInput> & { script: string }, more: Omit<RunInput, 'fixture' | 'port'> = {}) {
    const fixture = makeJobFixture(base, { vms: [vm0()], keyFile, ...input });
    const stdout = new Sink();
    const stderr = new Sink();
    const code = await runJob(runOptions({ fixture, port: sshd.port, ...more }, stdout, stderr));
    return { code, stdout: stdout.text, stderr: stderr.text, fixture, chunks: stdout.chunks };
  }

  it('streams stdout and stderr and returns the exit code', async () => {
    const r = await run({ script: '#!/bin/sh\necho out\necho err >&2\nexit 3\n' });
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('passes output on as it comes, not at the end', async () => {
    const started = Date.now();
    const r = await run({ script: '#!/bin/sh\necho first\nsleep 2\necho second\n' });
    const ended = Date.now();
    expect(r.code).toBe(0);
    const first = r.chunks.find((c) => c.text.includes('first'));
    expect(first).toBeDefined();
    expect(ended - (first?.at ?? ended)).toBeGreaterThan(1500);
    expect(first?.at ?? 0).toBeGreaterThanOrEqual(started);
    expect(r.stdout).toBe('first\nsecond\n');
  });

  it('passes -F arguments intact as "$1" "$2" …', async () => {
    const args = ['two words', `it's "quoted"`, '$(touch PWNED) `touch PWNED`; *', '', 'line1\nline2', '--flag=x'];
    const r = await run({ script: '#!/bin/sh\necho "$#"\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\n' }, { args });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${args.length}\n${args.map((a) => `[${a}]\n`).join('')}`);
    expect(existsSync(join(r.fixture.dir, 'PWNED'))).toBe(false);
  });

  it('gives the job its PBS environment, hostile values unharmed, and the guest node file', async () => {
    const canary = join(base, 'canary');
    // Payloads that would leave a file behind if any quoting broke (no `rm -rf ~`: HOME here is the real one).
    const name = `a'b;$(touch ${canary}1) \`touch ${canary}2\` "$(touch ${canary}3)"\nnext line`;
    const r = await run(
      { script: '#!/bin/sh\nprintf "%s|" "$PBS_JOBNAME" "$PBS_NODEFILE" "$PBS_VMNODEFILE" "$PBS_JOBID" "$PBS_O_QUEUE" "${HOME_FROM_JOB-unset}"\ncat "$PBS_NODEFILE"\n' },
      { env: { PBS_JOBNAME: name, PBS_O_QUEUE: 'batch', HOME_FROM_JOB: 'not a PBS variable' } },
    );
    expect(r.code).toBe(0);
    const nodeFile = r.fixture.nodeFile;
    expect(r.stdout).toBe(`${name}|${nodeFile}|${nodeFile}|${r.fixture.jobId}|batch|unset|127.0.0.1\n`);
    for (const i of [1, 2, 3]) expect(existsSync(`${canary}${i}`)).toBe(false);
    const envFile = join(r.fixture.guestRoot, 'vm', 'job.env');
    expect(statSync(envFile).mode & 0o777).toBe(0o644);
    expect(existsSync(`${envFile}.new`)).toBe(false);
    expect(readFileSync(envFile, 'utf8')).not.toContain('/var/spool/torque/aux/host-nodefile');
  });

  it('starts in PBS_O_WORKDIR when it exists, else in the home directory', async () => {
    const odd = join(base, `work dir 'x' $(y)`);
    mkdirSync(odd);
    const here = await run({ script: '#!/bin/sh\npwd\n' }, { env: { PBS_O_WORKDIR: odd } });
    expect(here.stdout).toBe(`${odd}\n`);
    const gone = await run({ script: '#!/bin/sh\npwd\n' }, { env: { PBS_O_WORKDIR: join(base, 'does-not-exist') } });
    expect(gone.stdout).toBe(`${userInfo().homedir}\n`);
    expect(gone.stderr).toBe('');
  });

  it('runs a script without a #! line and gives it no stdin', async () => {
    const r = await run({ script: 'echo plain "$1"\nif read line; then echo "stdin: $line"; else echo no-stdin; fi\nexit 4\n' }, { args: ['a b'] });
    expect(r).toMatchObject({ code: 4, stdout: 'plain a b\nno-stdin\n', stderr: '' });
  });

  it('replaces the job script and the env file in place on a second run', async () => {
    const r1 = await run({ script: '#!/bin/sh\necho one\n' });
    const r2 = await run({ script: '#!/bin/sh\necho two\n' });
    expect([r1.stdout, r2.stdout]).toEqual(['one\n', 'two\n']);
  });

  it('stops at a failing vm_prologue: its code is returned and the job script never runs', async () => {
    const marker = join(base, 'prologue-marker');
    const r = await run({ script: `#!/bin/sh\ntouch ${marker}\n`, vmPrologue: '#!/bin/sh\necho "prologue for $PBS_JOBID"\nexit 7\n' });
    expect(r.code).toBe(7);
    expect(r.stdout).toBe(`prologue for ${r.fixture.jobId}\n`);
    expect(r.stderr).toBe('vTorque: vm_prologue exited 7; the job script was not run\n');
    expect(existsSync(marker)).toBe(false);
    expect(statSync(join(r.fixture.guestRoot, 'vm', 'vm-prologue')).mode & 0o777).toBe(0o700);
  });

  it('runs a passing vm_prologue, then the job, then vm_epilogue, whose failure keeps the job code', async () => {
    const r = await run({
      script: '#!/bin/sh\necho job\nexit 5\n',
      vmPrologue: '#!/bin/sh\necho pro\n',
      vmEpilogue: '#!/bin/sh\necho "epi $PBS_JOBNAME"\nexit 9\n',
    });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('pro\njob\nepi test-job\n');
    expect(r.stderr).toBe("vTorque: vm_epilogue exited 9; the job's exit code 5 stands\n");
  });

  it('maps a remote signal death to 128 + n', async () => {
    const r = await run({ script: '#!/bin/sh\nkill -KILL $$\n' });
    expect(r.code).toBe(137);
    expect(r.stderr).toBe('vTorque: the job script in vm0 was killed by SIGKILL\n');
  });

  it('refuses a VM whose host key is not the recorded one; nothing runs, nothing is written', async () => {
    const other = keygen(join(base, `other-host-key-${Date.now()}`), 'someone-else');
    const marker = join(base, 'hostkey-marker');
    const r = await run({ script: `#!/bin/sh\ntouch ${marker}\n`, vms: [{ ...vm0(), hostKey: other }] });
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/^vTorque: host key mismatch for vm0: refusing to run the job there \(.*offered ssh-ed25519 SHA256:\S+, expected ssh-ed25519 SHA256:\S+\)\n$/);
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(join(r.fixture.guestRoot, 'vm', 'job.env'), 'utf8')).toBe('# from the seed\n');
  });

  it('refuses the job when any other VM has the wrong host key', async () => {
    const other = keygen(join(base, `other-host-key2-${Date.now()}`), 'someone-else');
    const r = await run({ script: '#!/bin/sh\necho ran\n', vms: [vm0(), { name: 'vm1', rank: 1, ip: '127.0.0.1', hostKey: other }] });
    expect(r.code).toBe(255);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^vTorque: host key mismatch for vm1: /);
  });

  it('says clearly when PBS_JOBID is missing', async () => {
    const fixture = makeJobFixture(base, { vms: [vm0()], keyFile, script: 'true\n' });
    const stdout = new Sink();
    const stderr = new Sink();
    const o = runOptions({ fixture, port: sshd.port }, stdout, stderr);
    const code = await runJob({ ...o, env: { ...o.env, PBS_JOBID: undefined } });
    expect(code).toBe(2);
    expect(stderr.text).toMatch(/^vTorque: PBS_JOBID is not set, nor SLURM_JOB_ID: /);
  });

  it('returns 143 without running anything when already cancelled', async () => {
    const marker = join(base, 'cancelled-marker');
    const controller = new AbortController();
    controller.abort();
    const r = await run({ script: `#!/bin/sh\ntouch ${marker}\n` }, { signal: controller.signal });
    expect(r.code).toBe(143);
    expect(existsSync(marker)).toBe(false);
  });
});

describe.skipIf(!canRunSshd)('runJob with several VMs and lost connections', () => {
  let base: string;
  let keyFile: string;
  let clientKey: string;
  const user = userInfo().username;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'vtq-runner2-'));
    keyFile = join(base, 'id_ed25519');
    clientKey = keygen(keyFile, 'vtorque-test-job');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  async function sshdAt(address: string, port: number): Promise<TestSshd> {
    const dir = mkdtempSync(join(base, 'sshd-'));
    return startSshd(dir, address, port, { [user]: clientKey });
  }

  it('cannot reach a VM: 255 and a clear line, the job does not run', async () => {
    const port = await freePort(['127.0.0.1', '127.0.0.2']);
    const a = await sshdAt('127.0.0.1', port);
    try {
      const fixture = makeJobFixture(base, {
        keyFile,
        script: '#!/bin/sh\necho ran\n',
        vms: [
          { name: 'vm0', rank: 0, ip: '127.0.0.1', hostKey: a.hostKey },
          { name: 'vm1', rank: 1, ip: '127.0.0.2', hostKey: a.hostKey },
        ],
      });
      const stdout = new Sink();
      const stderr = new Sink();
      const code = await runJob(runOptions({ fixture, port }, stdout, stderr));
      expect(code).toBe(255);
      expect(stdout.text).toBe('');
      expect(stderr.text).toMatch(new RegExp(`^vTorque: cannot connect to vm1 \\(${user}@127\\.0\\.0\\.2:${port}\\): .*ECONNREFUSED`));
    } finally {
      await a.stop();
    }
  });

  it('sshd killed mid-job: 255 with the "lost the SSH connection" line', async () => {
    const port = await freePort(['127.0.0.1']);
    const a = await sshdAt('127.0.0.1', port);
    try {
      const fixture = makeJobFixture(base, { keyFile, script: '#!/bin/sh\necho started\nsleep 30.2718\n', vms: [{ name: 'vm0', rank: 0, ip: '127.0.0.1', hostKey: a.hostKey }] });
      const stdout = new Sink();
      const stderr = new Sink();
      const running = runJob(runOptions({ fixture, port }, stdout, stderr));
      await stdout.waitFor('started');
      a.killAll();
      expect(await running).toBe(255);
      expect(stderr.text).toMatch(/^vTorque: lost the SSH connection to vm0 \(127\.0\.0\.1\): .+\n$/);
    } finally {
      await a.stop();
      for (const p of processesMatching('sleep 30.2718')) tryKill(p, 'SIGKILL');
    }
  });
});

// Cancelling needs a non-root guest user: OpenSSH refuses `signal` requests on root sessions
// ("session signalling requires privilege separation"). The user exists only in the test sshd's
// private mount namespace; the machine's /etc/passwd is not changed.
describe.skipIf(!canRunSshd || !canUnshareMounts())('runJob cancelled (non-root guest user)', () => {
  const guest: TestUser = { name: 'vtqjob', uid: 64123, gid: 64123, home: '' };
  let base: string;
  let keyFile: string;
  let sshd: TestSshd;
  let home: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'vtq-runner3-'));
    chmodSync(base, 0o755);
    keyFile = join(base, 'id_ed25519');
    const clientKey = keygen(keyFile, 'vtorque-test-job');
    home = join(base, 'home');
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, guest.uid, guest.gid);
    const dir = join(base, 'sshd');
    mkdirSync(dir, { mode: 0o755 });
    sshd = await startSshd(dir, '127.0.0.1', await freePort(['127.0.0.1']), { [guest.name]: clientKey }, { users: [{ ...guest, home }] });
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  async function cancelDuring(script: string, marker: string, termGraceSeconds?: number) {
    const fixture = makeJobFixture(base, {
      keyFile,
      user: guest.name,
      guestOwner: guest,
      script,
      vms: [{ name: 'vm0', rank: 0, ip: '127.0.0.1', hostKey: sshd.hostKey }],
    });
    const stdout = new Sink();
    const stderr = new Sink();
    const controller = new AbortController();
    const running = runJob(runOptions({ fixture, port: sshd.port, signal: controller.signal, ...(termGraceSeconds !== undefined ? { termGraceSeconds } : {}) }, stdout, stderr));
    try {
      await stdout.waitFor('started');
      await until(() => processesMatching(marker).length === 1, 5000); // `sleep` starts just after the echo
      const t0 = Date.now();
      controller.abort();
      const code = await running;
      return { code, ms: Date.now() - t0, stdout: stdout.text, stderr: stderr.text };
    } finally {
      await running.catch(() => undefined);
    }
  }

  it('sends TERM to the job, returns 143, and the remote processes are gone', async () => {
    try {
      const r = await cancelDuring('#!/bin/sh\necho started\nsleep 31.4159\necho never\n', 'sleep 31.4159');
      expect(r.code).toBe(143);
      expect(r.ms).toBeLessThan(2000);
      expect(r.stdout).toBe('started\n');
      expect(r.stderr).toBe('vTorque: cancelled (SIGTERM from Torque): stopped the job in vm0\n');
      await until(() => processesMatching('sleep 31.4159').length === 0, 2000);
    } finally {
      for (const p of processesMatching('sleep 31.4159')) tryKill(p, 'SIGKILL');
    }
  });

  it('sends KILL to a job that ignores TERM, before the grace period ends', async () => {
    try {
      const r = await cancelDuring("#!/bin/sh\ntrap '' TERM\necho started\nsleep 32.7182\n", 'sleep 32.7182', 2);
      expect(r.code).toBe(143);
      expect(r.ms).toBeGreaterThanOrEqual(900);
      expect(r.ms).toBeLessThan(2500);
      await until(() => processesMatching('sleep 32.7182').length === 0, 2000);
    } finally {
      for (const p of processesMatching('sleep 32.7182')) tryKill(p, 'SIGKILL');
    }
  });
});

// Two "VMs" with file systems of their own: the second sshd sees another directory at the guest
// root (a bind mount in its private mount namespace).
describe.skipIf(!canRunSshd || !canUnshareMounts())('runJob with several VMs', () => {
  let base: string;
  let keyFile: string;
  let clientKey: string;
  const user = userInfo().username;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'vtq-runner4-'));
    keyFile = join(base, 'id_ed25519');
    clientKey = keygen(keyFile, 'vtorque-test-job');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('writes job.env into every VM, and runs the job only in rank 0', async () => {
    const jobId = '77.testserver';
    const guestRoot = mkdtempSync(join(base, 'guest-a-'));
    const otherRoot = mkdtempSync(join(base, 'guest-b-'));
    makeGuestRoot(otherRoot, jobId);
    const port = await freePort(['127.0.0.1', '127.0.0.2']);
    const [a, b] = await Promise.all([
      startSshd(mkdtempSync(join(base, 'sshd-a-')), '127.0.0.1', port, { [user]: clientKey }),
      startSshd(mkdtempSync(join(base, 'sshd-b-')), '127.0.0.2', port, { [user]: clientKey }, { binds: [{ source: otherRoot, target: guestRoot }] }),
    ]);
    try {
      const fixture = makeJobFixture(base, {
        keyFile,
        jobId,
        guestRoot,
        script: '#!/bin/sh\necho "$PBS_JOBNAME"\n',
        vms: [
          { name: 'vm1', rank: 1, ip: '127.0.0.2', hostKey: b.hostKey },
          { name: 'vm0', rank: 0, ip: '127.0.0.1', hostKey: a.hostKey },
        ],
      });
      const stdout = new Sink();
      const stderr = new Sink();
      const code = await runJob(runOptions({ fixture, port, env: { PBS_JOBNAME: 'several' } }, stdout, stderr));
      expect({ code, out: stdout.text, err: stderr.text }).toEqual({ code: 0, out: 'several\n', err: '' });
      for (const root of [guestRoot, otherRoot]) {
        expect(readFileSync(join(root, 'vm', 'job.env'), 'utf8')).toContain(`export PBS_NODEFILE=${guestRoot}/aux/77.testserver\n`);
        expect(readFileSync(join(root, 'vm', 'job.env'), 'utf8')).toContain("export PBS_JOBNAME=several\n");
      }
      expect(existsSync(join(guestRoot, 'vm', 'job-script'))).toBe(true);
      expect(existsSync(join(otherRoot, 'vm', 'job-script'))).toBe(false);
      expect(b.log()).toContain("Starting session: subsystem 'sftp'");
      expect(b.log()).not.toContain('Starting session: command');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

async function until(ok: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
