import { spawn } from 'node:child_process';
import { chownSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatLiveEvent, formatRunLocal, runLocal, type LiveEvent, type RunLocalResult } from '../../src/torque/run-local/index.js';
import { makeFixture, REPO, TEST_USER, type Fixture } from './fixture.js';

// Issue 12 §4: the job's progress as it happens. Real vsub bundle, real setpriv/sh/bash, stub hooks
// (each says hello on stdout and stderr), job scripts written here by the owner.
let fx: Fixture;

beforeAll(() => {
  fx = makeFixture();
});
afterAll(() => fx.cleanup());
beforeEach(() => fx.reset());

const plain = ['-l', 'nodes=1:ppn=2,walltime=00:10:00', '-F', 'one "two three"', 'job.sh'];

/** Every live event with the moment it reached the callback (performance.now() and wall clock). */
interface Seen {
  readonly e: LiveEvent;
  readonly at: number;
  readonly wall: number;
}
function collector(): { seen: Seen[]; live: (e: LiveEvent) => void } {
  const seen: Seen[] = [];
  return { seen, live: (e) => void seen.push({ e, at: performance.now(), wall: Date.now() }) };
}
type Output = Extract<LiveEvent, { kind: 'output' }>;
const outputs = (seen: readonly Seen[]): Output[] => seen.map((s) => s.e).filter((e): e is Output => e.kind === 'output');
function when(seen: readonly Seen[], what: string, pred: (e: LiveEvent) => boolean): Seen {
  const s = seen.find((x) => pred(x.e));
  if (!s) throw new Error(`never seen live: ${what}; seen: ${seen.map((x) => formatLiveEvent(x.e)).join('')}`);
  return s;
}
const line = (step: string, stream: string, text: string, partial = false) => (e: LiveEvent): boolean =>
  e.kind === 'output' && e.step === step && e.stream === stream && e.text === text && e.partial === partial;

/** A job script in the owner's work directory, his. */
function userScript(name: string, text: string): void {
  writeFileSync(join(fx.work, name), text, { mode: 0o755 });
  chownSync(join(fx.work, name), fx.uid, fx.uid);
}

describe('live progress from runLocal', () => {
  it('a job that prints, sleeps 3 s and prints: each line reaches the live output within a second of being written, long before the job ends', async () => {
    // Each line carries the wall-clock millisecond it was written at.
    userScript('live.sh', [
      '#!/bin/sh',
      'echo "first line $(date +%s%3N)"',
      'echo "first error $(date +%s%3N)" >&2',
      'printf "no newline yet"',
      'sleep 3',
      'echo " then its end"',
      'echo "last line $(date +%s%3N)"',
      '',
    ].join('\n'));
    const { seen, live } = collector();
    const r = await fx.run(['live.sh'], { live });
    const stamped = (stream: string, prefix: string): { seen: Seen; writtenMs: number } => {
      const s = when(seen, prefix, (e) => e.kind === 'output' && e.step === 'job' && e.stream === stream && e.text.startsWith(`${prefix} `) && !e.partial);
      return { seen: s, writtenMs: Number((s.e as Output).text.slice(prefix.length + 1)) };
    };
    const first = stamped('stdout', 'first line');
    const firstErr = stamped('stderr', 'first error');
    const last = stamped('stdout', 'last line');
    const partial = when(seen, 'the text without a newline', line('job', 'stdout', 'no newline yet', true));
    const jobEnd = when(seen, "the job's end", (e) => e.kind === 'end' && e.step === 'job');
    for (const s of [first, firstErr, last]) {
      expect(s.seen.wall - s.writtenMs).toBeGreaterThanOrEqual(0);
      expect(s.seen.wall - s.writtenMs).toBeLessThan(1200);
    }
    // Not at the end: the first lines were out while the job still slept.
    expect(jobEnd.at - first.seen.at).toBeGreaterThan(2500);
    expect(jobEnd.at - firstErr.seen.at).toBeGreaterThan(2500);
    expect(last.seen.at - first.seen.at).toBeGreaterThan(2500);
    // Text left without a newline is shown after about a second, its rest as the next line.
    expect(partial.at - first.seen.at).toBeGreaterThan(700);
    expect(partial.at - first.seen.at).toBeLessThan(2000);
    expect(seen.some((s) => line('job', 'stdout', ' then its end')(s.e))).toBe(true);
    expect(jobEnd.at).toBeGreaterThanOrEqual(last.seen.at);
    // What Torque delivers is recorded as ever.
    expect(r.stdout).toMatch(/^prologue says hello on stdout\nfirst line \d+\nno newline yet then its end\nlast line \d+\nepilogue says hello on stdout\n$/);
    expect(r.stderr).toMatch(/^prologue says hello on stderr\nfirst error \d+\nepilogue says hello on stderr\n$/);
  });

  it('labels each line with the step and the stream that wrote it, brackets the steps, and records the same result as without it', async () => {
    const quiet = await fx.run(plain);
    fx.reset();
    const { seen, live } = collector();
    const r = await fx.run(plain, { live });
    expect(seen.map((s) => s.e).filter((e) => e.kind !== 'output').map((e) => (e.kind === 'submitted' ? `submitted ${e.jobId}` : e.kind === 'note' ? e.text : `${e.kind} ${e.step} ${e.start}`))).toEqual([
      `submitted ${r.jobId}`, 'begin prologue 1', 'end prologue 1', 'begin job 1', 'end job 1', 'begin epilogue 1', 'end epilogue 1',
    ]);
    expect(outputs(seen).map((e) => [e.step, e.stream, e.text, e.partial, e.start])).toEqual([
      ['prologue', 'stdout', 'prologue says hello on stdout', false, 1],
      ['prologue', 'stderr', 'prologue says hello on stderr', false, 1],
      ['job', 'stdout', 'job says hello, args: one two three', false, 1],
      ['job', 'stderr', 'job error line', false, 1],
      ['epilogue', 'stdout', 'epilogue says hello on stdout', false, 1],
      ['epilogue', 'stderr', 'epilogue says hello on stderr', false, 1],
    ]);
    const jobLine = outputs(seen).find((e) => e.step === 'job' && e.stream === 'stdout') as Output;
    expect(formatLiveEvent(jobLine)).toMatch(/^run-local +\d+\.\ds job {6}stdout \| job says hello, args: one two three\n$/);
    const ends = seen.map((s) => s.e).filter((e) => e.kind === 'end');
    expect(ends.map(formatLiveEvent).map((t) => t.replace(/^run-local +[\d.]+s /, '').replace(/after [\d.]+ s/, 'after T'))).toEqual([
      'prologue exit 0 after T\n', 'job exit status 0 after T\n', 'epilogue exit 0 after T\n',
    ]);
    const same = (x: RunLocalResult) => ({ verdict: x.verdict, exitStatus: x.exitStatus, canceled: x.canceled, stdout: x.stdout, stderr: x.stderr, spool: x.spool, hooks: x.hooks.map((h) => [h.hook, h.rc]), attempts: x.attempts.map((a) => [a.prologueRc, a.epilogueRc, a.exitStatus]) });
    expect(same(r)).toEqual(same(quiet));
  });

  it('a requeue loop: each start labelled, the prologue results told; the result keeps the last start', async () => {
    fx.control('prologue', { rc: 2 });
    const { seen, live } = collector();
    const r = await fx.run(plain, { live, maxStarts: 2 });
    expect(outputs(seen).map((e) => `${e.start} ${e.step} ${e.stream}`)).toEqual([
      '1 prologue stdout', '1 prologue stderr', '1 epilogue stdout', '1 epilogue stderr',
      '2 prologue stdout', '2 prologue stderr', '2 epilogue stdout', '2 epilogue stderr',
    ]);
    const proEnds = seen.map((s) => s.e).filter((e) => e.kind === 'end' && e.step === 'prologue').map(formatLiveEvent);
    expect(proEnds[0]).toMatch(/prologue exit 2 after [\d.]+ s: Torque requeues the job\n$/);
    expect(proEnds[1]).toMatch(/prologue exit 2 after [\d.]+ s \(start 2\): Torque requeues the job\n$/);
    expect(r.verdict).toBe('requeued-limit');
    expect(r.stdout).toBe('prologue says hello on stdout\nepilogue says hello on stdout\n');
  });

  it('qdel and walltime are told as they happen, with precancel bracketed', async () => {
    fx.control('job', { sleep: 30 });
    const { seen, live } = collector();
    const r = await fx.run(plain, { live, cancelAfter: 1 });
    expect(r.exitStatus).toBe(271);
    const texts = seen.map((s) => formatLiveEvent(s.e).replace(/^run-local +[\d.]+s /, ''));
    const qdel = texts.findIndex((t) => t.startsWith('qdel (--cancel-after 1 s)'));
    expect(qdel).toBeGreaterThan(texts.indexOf('job starts\n'));
    expect(texts.slice(qdel + 1, qdel + 3).map((t) => t.replace(/after [\d.]+ s/, 'after T'))).toEqual(['epilogue.precancel starts\n', 'epilogue.precancel exit 0 after T\n']);
    expect(texts.filter((t) => /^job exit status 271 after [\d.]+ s\n$/.test(t))).toHaveLength(1);
    fx.reset();
    fx.control('job', { sleep: 30 });
    const w = collector();
    await fx.run(plain, { live: w.live, walltime: 1 });
    expect(w.seen.map((s) => s.e).some((e) => e.kind === 'note' && e.text.startsWith('walltime 1 s reached'))).toBe(true);
    expect(w.seen.map((s) => s.e).some((e) => e.kind === 'end' && e.step === 'job' && e.rc === -11)).toBe(true);
  });

  it('is quiet unless asked: out null and no live write nothing; the default writes only the final text, once', async () => {
    const writes: string[] = [];
    const record = ((chunk: unknown): boolean => {
      writes.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    const spies = [process.stdout, process.stderr].map((s) => vi.spyOn(s, 'write').mockImplementation(record));
    let r: RunLocalResult;
    try {
      fx.control('job', { sleep: 1 });
      await fx.run(plain);
      expect(writes).toEqual([]);
      r = await runLocal({ config: fx.config, vsubCommand: [process.execPath, join(REPO, 'dist', 'vsub.mjs')], vsubArgs: plain, user: TEST_USER, cwd: fx.work, stdin: '' });
    } finally {
      for (const s of spies) s.mockRestore();
    }
    expect(writes).toEqual([formatRunLocal(r)]);
  });
});

describe('following as root, never through what the owner can replace', () => {
  it('the job replacing its .OU by a symlink to a root-only file: not a byte of it is shown, live or delivered', async () => {
    const secret = join(fx.root, 'secret');
    writeFileSync(secret, 'TOPSECRET\n', { mode: 0o600 });
    userScript('swap.sh', `#!/bin/sh\nou=$(readlink /proc/$$/fd/1)\necho before\nrm -f "$ou" && ln -s '${secret}' "$ou" && echo swapped >&2\nsleep 1\necho after\n`);
    const { seen, live } = collector();
    const r = await fx.run(['swap.sh'], { live });
    expect(JSON.stringify(seen)).not.toContain('TOPSECRET');
    // The live output is what the job wrote through its descriptor, to the file it was given.
    expect(outputs(seen).filter((e) => e.step === 'job').map((e) => `${e.stream} ${e.text}`)).toEqual(['stdout before', 'stderr swapped', 'stdout after']);
    expect(r.stdout).toMatch(/is a symbolic link/);
    expect(r.stdout).not.toContain('TOPSECRET');
  });

  it('the job replacing its .OU by a file of its own: the live output stays what the hooks and the job wrote', async () => {
    userScript('replace.sh', '#!/bin/sh\nou=$(readlink /proc/$$/fd/1)\necho before\nrm -f "$ou" && echo "FORGED by the owner" > "$ou"\nsleep 1\necho after\n');
    const { seen, live } = collector();
    const r = await fx.run(['replace.sh'], { live });
    expect(outputs(seen).map((e) => `${e.step} ${e.stream} ${e.text}`).filter((t) => t.includes(' stdout '))).toEqual([
      'prologue stdout prologue says hello on stdout', 'job stdout before', 'job stdout after', 'epilogue stdout epilogue says hello on stdout',
    ]);
    expect(r.stdout).toBe('FORGED by the owner\n'); // delivered: what the path holds at the end, as Torque copies it
  });

  it('bounded: 10 MiB on one line shows at most 8 MiB live, in pieces of at most 16 KiB, then says it stops', async () => {
    userScript('flood.sh', '#!/bin/sh\nhead -c 10485760 /dev/zero | tr "\\0" x\necho\necho "tail line"\n');
    const { seen, live } = collector();
    await fx.run(['flood.sh'], { live });
    const out = outputs(seen).filter((e) => e.stream === 'stdout' && e.start === 1);
    const bytes = out.reduce((n, e) => n + Buffer.byteLength(e.text) + (e.partial ? 0 : 1), 0);
    expect(bytes).toBeLessThanOrEqual(8 << 20);
    expect(bytes).toBeGreaterThan((8 << 20) - (64 << 10));
    expect(Math.max(...out.map((e) => e.text.length))).toBeLessThanOrEqual(16 << 10);
    expect(out.some((e) => e.text === 'tail line')).toBe(false);
    expect(seen.some((s) => s.e.kind === 'note' && /^live stdout stops after 8388608 bytes/.test(s.e.text))).toBe(true);
    // The epilogue's line is past the bound too; its stderr is still followed.
    expect(out.some((e) => e.step === 'epilogue')).toBe(false);
    expect(outputs(seen).some((e) => e.step === 'epilogue' && e.stream === 'stderr' && e.text === 'epilogue says hello on stderr')).toBe(true);
  });

  it('a live callback that throws gets nothing more; the job is still run to its end, then runLocal says so', async () => {
    let calls = 0;
    const run = fx.run(plain, { live: () => { calls++; throw new Error('boom'); } });
    await expect(run).rejects.toThrow(/live progress callback threw \("Error: boom"\); job \S+ was run to its end without it/);
    expect(calls).toBe(1);
    expect(fx.calls('job')).toHaveLength(1);
    expect(fx.calls('epilogue')).toHaveLength(1);
    expect(readdirSync(join(fx.torqueHome, 'spool'))).toEqual([]);
  });
});

describe('vtorque run-local (the CLI)', () => {
  const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; firstAt: number | null; exitAt: number }> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, [join(REPO, 'dist', 'vtorque.mjs'), 'run-local', '--user', TEST_USER, '--config', fx.configPath, ...args], { cwd: fx.work, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let firstAt: number | null = null;
      child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (firstAt === null && /\| cli first\n/.test(stderr)) firstAt = performance.now() - t0;
      });
      child.on('close', (code) => resolve({ code, stdout, stderr, firstAt, exitAt: performance.now() - t0 }));
    });

  it('prints each line on stderr as it is written, before the job ends; stdout stays the delivered output and the verdict', async () => {
    userScript('cli.sh', '#!/bin/sh\necho "cli first"\nsleep 3\necho "cli last"\n');
    const r = await cli(['--', 'cli.sh']);
    expect(r.code).toBe(0);
    expect(r.firstAt).not.toBeNull();
    expect(r.exitAt - (r.firstAt as number)).toBeGreaterThan(2500);
    expect(r.stderr).toMatch(/^run-local +[\d.]+s job \d+\.\S+ submitted\n/);
    expect(r.stderr).toMatch(/^run-local +[\d.]+s job {6}stdout \| cli first\n/m);
    expect(r.stderr).toMatch(/^run-local +[\d.]+s job {6}stdout \| cli last\n/m);
    expect(r.stderr).toMatch(/^run-local +[\d.]+s epilogue exit 0 after [\d.]+ s\n$/m);
    expect(r.stdout).toMatch(/^=== job \S+ stdout \(\.OU\) ===\nprologue says hello on stdout\ncli first\ncli last\nepilogue says hello on stdout\n=== job \S+ stderr \(\.ER\) ===\n[\s\S]*run-local: job \S+: run, exit status 0\n$/);
    expect(r.stdout).not.toContain('| cli first');
  });

  it('--no-live prints only the end', async () => {
    userScript('cli.sh', '#!/bin/sh\necho "cli first"\n');
    const r = await cli(['--no-live', '--', 'cli.sh']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/\ncli first\n[\s\S]*: run, exit status 0\n$/);
  });
});
