import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ownerStatusPath, readStatusFile, reapStatus, recordJobEnd, recordStartAttempt, startAttempt, statusPath } from './status.js';

const quiet = { info: () => undefined, warn: () => undefined } as never;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const spool = (): { SPOOL_DIR: string } => {
  const d = mkdtempSync(join(tmpdir(), 'vtq-status-'));
  dirs.push(d);
  return { SPOOL_DIR: join(d, 'spool') };
};
const job = { jobId: '12.srv', owner: { user: 'alice', uid: 1001, gid: 1001 }, scheduler: 'Torque' };
const record = { marks: [{ phase: 'plan', startMs: 0, endMs: 10 }, { phase: 'boot', startMs: 10, endMs: 400 }], vms: new Map([['vvm-1', { node: 'n1', addressMs: 9000, readyMs: 11000 }]]) };

describe.skipIf(process.getuid?.() !== 0)("a job's status record (root: the spool is root's)", () => {
  it("records each start (a requeue adds one) and the end; root's copy 0600, the owner's theirs and 0400", () => {
    const c = spool();
    recordStartAttempt(c, job, startAttempt(1000, ['n1'], { kind: 'failed', fault: 'node', reason: 'libvirt open: no socket' }, { marks: [], vms: new Map() }), quiet);
    recordStartAttempt(c, job, startAttempt(2000, ['n1'], { kind: 'running', vms: [], timeline: record.marks }, record), quiet);
    recordJobEnd(c, '12.srv', { vmsTornDown: 1, left: [], error: null }, quiet);
    const s = readStatusFile(statusPath(c, '12.srv'));
    expect(s?.attempts.map((a) => [a.result, a.fault, a.reason])).toEqual([['failed', 'node', 'libvirt open: no socket'], ['running', null, null]]);
    expect(s?.attempts[1]?.vms).toEqual([{ name: 'vvm-1', node: 'n1', addressMs: 9000, readyMs: 11000 }]);
    expect(s?.ended).toMatchObject({ vmsTornDown: 1, left: [], error: null });
    const own = statSync(statusPath(c, '12.srv'));
    const theirs = statSync(ownerStatusPath(c, '12.srv'));
    expect([own.uid, own.mode & 0o777]).toEqual([0, 0o600]);
    expect([theirs.uid, theirs.gid, theirs.mode & 0o777]).toEqual([1001, 1001, 0o400]);
    expect(statSync(join(c.SPOOL_DIR, 'status')).mode & 0o777).toBe(0o711);
    expect(readStatusFile(ownerStatusPath(c, '12.srv'))).toEqual(s);
  });

  it('an end without a recorded start writes nothing; a missing record reads as none', () => {
    const c = spool();
    recordJobEnd(c, '13.srv', { vmsTornDown: 0, left: [], error: null }, quiet);
    expect(readStatusFile(statusPath(c, '13.srv'))).toBeNull();
  });

  it('gc reaps records not changed for the keep time, both copies', () => {
    const c = spool();
    recordStartAttempt(c, job, startAttempt(1000, ['n1'], { kind: 'running', vms: [], timeline: [] }, null), quiet);
    expect(reapStatus(c, Date.now(), 3600)).toEqual([]);
    expect(reapStatus(c, Date.now() + 3601_000, 3600)).toEqual(['12.srv']);
    expect(existsSync(statusPath(c, '12.srv'))).toBe(false);
    expect(existsSync(ownerStatusPath(c, '12.srv'))).toBe(false);
  });
});
