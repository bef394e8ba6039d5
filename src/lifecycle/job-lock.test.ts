import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { awaitJobStart, jobLockPath, releaseJobLock, withJobStartLock } from './job-lock.js';

const quiet = { info: () => undefined, warn: () => undefined };
const dirs: string[] = [];
const spool = (): { SPOOL_DIR: string } => {
  const d = mkdtempSync(join(tmpdir(), 'vtq-joblock-'));
  dirs.push(d);
  return { SPOOL_DIR: join(d, 'spool') };
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(process.getuid?.() !== 0)('the job start lock (root: the spool is root-owned)', () => {
  it('a stop waits until the start of the same job is done, outcome and all', async () => {
    const c = spool();
    const events: string[] = [];
    const start = withJobStartLock(c, '7.srv', 5000, async () => {
      events.push('start begins');
      await new Promise((r) => setTimeout(r, 600));
      events.push('start leaves its outcome');
    });
    await new Promise((r) => setTimeout(r, 100));
    const held = await awaitJobStart(c, '7.srv', 5000, quiet);
    events.push('stop decides');
    expect(held).not.toBeNull();
    await releaseJobLock(c, '7.srv', held);
    await start;
    expect(events).toEqual(['start begins', 'start leaves its outcome', 'stop decides']);
    expect(existsSync(jobLockPath(c, '7.srv'))).toBe(false);
  });

  it('a stop gives up waiting at its bound and goes on without the lock', async () => {
    const c = spool();
    let release!: () => void;
    const start = withJobStartLock(c, '8.srv', 5000, () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    expect(await awaitJobStart(c, '8.srv', 1000, quiet)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(4000);
    release();
    await start;
  });
});
