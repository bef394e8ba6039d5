import { closeSync, constants as C, mkdtempSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FOLLOW_LIMITS, SpoolFollower, type FollowLimits } from './follow.js';
import { openSpoolReader, type SpoolReader } from './stage.js';
import type { LiveEvent } from './types.js';

let dir: string;
let fds: number[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vtq-follow-'));
  fds = [];
});
afterEach(() => {
  for (const fd of fds) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

/** Two spool files as stage.ts makes them (O_APPEND writers) and readers on them; a clock we move. */
function setup(limits: Partial<FollowLimits> = {}) {
  const open = (name: string): { w: number; r: SpoolReader } => {
    const path = join(dir, name);
    const w = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_APPEND, 0o600);
    const r = openSpoolReader(path, w);
    fds.push(w);
    if (r.fd !== null) fds.push(r.fd);
    return { w, r };
  };
  const out = open('1.vm.OU');
  const err = open('1.vm.ER');
  const events: LiveEvent[] = [];
  const clock = { now: 0 };
  const f = new SpoolFollower(1, { stdout: out.r, stderr: err.r }, (e) => void events.push(e), () => clock.now, { ...FOLLOW_LIMITS, pollMs: 1e6, ...limits });
  const write = (stream: 'out' | 'err', text: string | Buffer): void => void writeSync(stream === 'out' ? out.w : err.w, typeof text === 'string' ? Buffer.from(text) : text);
  const shown = (): string[] => events.map((e) => (e.kind === 'output' ? `${e.step} ${e.stream}${e.partial ? ' partial' : ''}: ${e.text}` : e.kind === 'note' ? `note: ${e.text}` : e.kind));
  return { f, write, shown, clock, events };
}

describe('SpoolFollower', () => {
  it('shows complete lines per look, labelled with the step that was running, partial text at its end', () => {
    const { f, write, shown } = setup();
    f.begin('prologue');
    write('out', '[vtorque 1.0s] planned 1 VM(s)\n[vtorque 2.');
    write('err', 'warn\r\n');
    f.look(false);
    expect(shown()).toEqual(['prologue stdout: [vtorque 1.0s] planned 1 VM(s)', 'prologue stderr: warn']);
    write('out', '0s] booting\nno newline');
    f.end();
    f.begin('job');
    write('out', 'job line\n');
    f.stop();
    expect(shown().slice(2)).toEqual(['prologue stdout: [vtorque 2.0s] booting', 'prologue stdout partial: no newline', 'job stdout: job line']);
  });

  it('shows text without a newline once it waited partialMs, and the rest later as its own line', () => {
    const { f, write, shown, clock } = setup({ partialMs: 1000 });
    f.begin('job');
    write('out', 'Waiting');
    f.look(false);
    clock.now = 999;
    f.look(false);
    expect(shown()).toEqual([]);
    clock.now = 1000;
    f.look(false);
    write('out', ' done\n');
    f.look(false);
    expect(shown()).toEqual(['job stdout partial: Waiting', 'job stdout:  done']);
  });

  it('reads in bounded pieces, keeps UTF-8 whole across them, cuts long lines', () => {
    const { f, write, shown } = setup({ readBytes: 3, maxLineChars: 4 });
    f.begin('job');
    write('out', 'héé\nabcdefghij\n');
    f.look(false);
    expect(shown()).toEqual([]); // 3 bytes: "hé", nothing complete yet
    f.look(true);
    expect(shown()).toEqual(['job stdout: héé', 'job stdout partial: abcd', 'job stdout partial: efgh', 'job stdout: ij']);
  });

  it('shows at most maxBytes per stream, then says so and reads no more of it', () => {
    const { f, write, shown } = setup({ maxBytes: 10 });
    f.begin('job');
    write('out', '12345\n67890\nsecret\n');
    write('err', 'e\n');
    f.look(true);
    write('out', 'more\n');
    f.look(true);
    expect(shown()).toEqual([
      'job stdout: 12345',
      'job stdout partial: 6789',
      'note: live stdout stops after 10 bytes of this start; the rest is in the spool file',
      'job stderr: e',
    ]);
  });

  it('a file truncated by its owner is followed from its start again, with a note (as tail -f)', () => {
    const { f, write, shown } = setup();
    f.begin('job');
    write('out', 'one\ntwo\n');
    f.look(false);
    truncateSync(join(dir, '1.vm.OU'), 0);
    write('out', 'three\n');
    f.look(false);
    write('out', 'four\n');
    f.look(false);
    expect(shown()).toEqual(['job stdout: one', 'job stdout: two', 'note: the spool stdout shrank from 8 to 6 bytes (truncated by its owner); following it from its start', 'job stdout: three', 'job stdout: four']);
  });
});

describe('openSpoolReader', () => {
  it('opens the very inode being written, never a symlink, never another file', () => {
    const path = join(dir, 'x.OU');
    const w = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600);
    fds.push(w);
    const ok = openSpoolReader(path, w);
    expect(ok.problem).toBeNull();
    if (ok.fd !== null) fds.push(ok.fd);
    writeFileSync(join(dir, 'secret'), 'TOPSECRET\n', { mode: 0o600 });
    symlinkSync(join(dir, 'secret'), join(dir, 'link.OU'));
    expect(openSpoolReader(join(dir, 'link.OU'), w)).toEqual({ fd: null, problem: expect.stringMatching(/link\.OU cannot be opened for reading \(ELOOP\)/) });
    expect(openSpoolReader(join(dir, 'secret'), w)).toEqual({ fd: null, problem: expect.stringMatching(/secret was replaced while it was being opened/) });
  });

  it('a stream without a reader is told once and not followed', () => {
    const events: LiveEvent[] = [];
    const w = openSync(join(dir, 'y.ER'), C.O_WRONLY | C.O_CREAT, 0o600);
    fds.push(w);
    const r = openSpoolReader(join(dir, 'y.ER'), w);
    if (r.fd !== null) fds.push(r.fd);
    const f = new SpoolFollower(2, { stdout: { fd: null, problem: 'gone' }, stderr: r }, (e) => void events.push(e), () => 5);
    f.begin('epilogue');
    writeSync(w, 'bye\n');
    f.stop();
    expect(events).toEqual([
      { kind: 'note', atMs: 5, start: 2, text: 'live stdout not followed: gone' },
      { kind: 'output', atMs: 5, start: 2, step: 'epilogue', stream: 'stderr', text: 'bye', partial: false },
    ]);
  });
});
