import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { VtorqueError } from '../errors.js';
import { acquireNodeLock, withNodeLock } from './lock.js';

const dir = mkdtempSync(join(tmpdir(), 'vtq-lock-'));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Whether anyone holds an flock on `path`, asked of flock(1) itself. */
const isFree = (path: string): boolean => spawnSync('flock', ['--nonblock', '--exclusive', path, 'true']).status === 0;

describe('acquireNodeLock', () => {
  it('serializes two acquirers of one path in one process; only the second waits', async () => {
    const path = join(dir, 'serial.lock');
    const events: string[] = [];
    const waits: string[] = [];
    const body = (name: string, holdMs: number) => async (held: { waitedMs: number }) => {
      events.push(`${name} in`);
      await sleep(holdMs);
      events.push(`${name} out`);
      return { name, waitedMs: held.waitedMs };
    };
    const first = withNodeLock(path, { timeoutMs: 10_000, onWait: (p) => waits.push(`first ${p}`) }, body('first', 700));
    // Let the first child take the lock before the second asks for it.
    for (let i = 0; i < 100 && isFree(path); i++) await sleep(20);
    expect(isFree(path)).toBe(false);
    const second = withNodeLock(path, { timeoutMs: 10_000, onWait: (p) => waits.push(`second ${p}`) }, body('second', 10));
    const [a, b] = await Promise.all([first, second]);
    expect(events).toEqual(['first in', 'first out', 'second in', 'second out']);
    expect(a.waitedMs).toBeLessThan(500);
    // The second waited for most of the first's 700 ms hold.
    expect(b.waitedMs).toBeGreaterThanOrEqual(400);
    expect(b.waitedMs).toBeLessThan(5000);
    expect(waits).toEqual([`second ${path}`]);
    expect(isFree(path)).toBe(true);
  });

  it('does not call onWait when the lock is free', async () => {
    const path = join(dir, 'free.lock');
    const waits: string[] = [];
    const held = await acquireNodeLock(path, { timeoutMs: 5000, onWait: (p) => waits.push(p) });
    expect(isFree(path)).toBe(false);
    await sleep(300); // past the 200 ms hint: it must have been cancelled when the lock came
    await held.release();
    expect(waits).toEqual([]);
    expect(isFree(path)).toBe(true);
  });

  it('gives up with TIMEOUT naming the path when the lock stays held', async () => {
    const path = join(dir, 'timeout.lock');
    const holder = await acquireNodeLock(path, { timeoutMs: 5000 });
    const waits: string[] = [];
    const t0 = performance.now();
    const err = await acquireNodeLock(path, { timeoutMs: 1000, onWait: (p) => waits.push(p) }).catch((e: unknown) => e);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(VtorqueError);
    expect((err as VtorqueError).code).toBe('TIMEOUT');
    expect((err as VtorqueError).message).toContain(path);
    expect((err as VtorqueError).message).toMatch(/within 1 s: another vTorque hook holds it/);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(4000);
    expect(waits).toEqual([path]);
    // The loser left nothing holding or waiting: the holder still has it, and after release it is free.
    expect(isFree(path)).toBe(false);
    await holder.release();
    expect(isFree(path)).toBe(true);
  });

  it('a lock file flock cannot open is a COMMAND_FAILED naming it, not a timeout', async () => {
    const path = join(dir, 'no-such-dir', 'x.lock');
    const err = await acquireNodeLock(path, { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VtorqueError);
    expect((err as VtorqueError).code).toBe('COMMAND_FAILED');
    expect((err as VtorqueError).message).toContain(path);
  });

  it('a holder process killed with SIGKILL loses the lock at once', async () => {
    const path = join(dir, 'killed.lock');
    // Another process taking the lock with this very module, then killed without any cleanup.
    const script = `import { acquireNodeLock } from ${JSON.stringify(join(REPO, 'src/core/node/lock.ts'))};
await acquireNodeLock(${JSON.stringify(path)}, { timeoutMs: 5000 });
process.stdout.write('held\\n');
setInterval(() => undefined, 60_000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      child.once('exit', (code) => reject(new Error(`holder exited ${code}: ${stderr}`)));
    });
    expect(isFree(path)).toBe(false);
    const gone = new Promise((r) => child.once('exit', r));
    process.kill(child.pid as number, 'SIGKILL');
    await gone;
    const waits: string[] = [];
    const held = await acquireNodeLock(path, { timeoutMs: 10_000, onWait: (p) => waits.push(p) });
    // Its `flock … cat` child sees EOF and exits: no stale lock to wait out.
    expect(held.waitedMs).toBeLessThan(2000);
    expect(isFree(path)).toBe(false);
    await held.release();
    expect(isFree(path)).toBe(true);
  });

  it('a plain flock(1) holder killed with SIGKILL releases the lock', async () => {
    const path = join(dir, 'plain.lock');
    // --close: sleep must not inherit the lock fd, or it would keep holding it after flock dies.
    const holder = spawn('flock', ['--close', path, 'sleep', '30'], { stdio: 'ignore' });
    children.push(holder);
    for (let i = 0; i < 100 && isFree(path); i++) await sleep(20);
    expect(isFree(path)).toBe(false);
    const sleepPids = readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    expect(sleepPids).toHaveLength(1);
    const gone = new Promise((r) => holder.once('exit', r));
    process.kill(holder.pid as number, 'SIGKILL');
    await gone;
    const held = await acquireNodeLock(path, { timeoutMs: 10_000 });
    expect(held.waitedMs).toBeLessThan(2000);
    await held.release();
    for (const pid of sleepPids) process.kill(pid, 'SIGKILL'); // the orphaned `sleep 30`
  });

  it('release() is idempotent and frees the lock for the next acquirer', async () => {
    const path = join(dir, 'idem.lock');
    const held = await acquireNodeLock(path, { timeoutMs: 5000 });
    expect(isFree(path)).toBe(false);
    await Promise.all([held.release(), held.release()]);
    await held.release();
    expect(isFree(path)).toBe(true);
    const next = await acquireNodeLock(path, { timeoutMs: 2000 });
    expect(next.waitedMs).toBeLessThan(1000);
    await next.release();
  });

  it('withNodeLock releases the lock when fn throws, and passes the error on', async () => {
    const path = join(dir, 'throw.lock');
    await expect(withNodeLock(path, { timeoutMs: 5000 }, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(isFree(path)).toBe(true);
    expect(await withNodeLock(path, { timeoutMs: 5000 }, async (h) => h.waitedMs < 1000)).toBe(true);
  });
});
