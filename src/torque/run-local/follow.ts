import { fstatSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import type { SpoolReader } from './stage.js';
import type { LiveEvent } from './types.js';

/**
 * Following one start's spool .OU/.ER while the hooks and the job write them, for a person
 * watching: through read-only descriptors on the very inodes they write to (openSpoolReader), so
 * the owner replacing a path changes nothing; every read is bounded, and so is what is shown.
 * What was written while a step ran is labelled as that step's: each step's end is drained before
 * the next begins (output of a process a step left behind is shown as the last step's).
 */
export interface FollowLimits {
  /** How often the files are looked at. */
  readonly pollMs: number;
  /** Bytes shown per stream and start; the rest stays in the spool (and in the final output). */
  readonly maxBytes: number;
  /** Bytes read per stream and look. */
  readonly readBytes: number;
  /** A longer line is shown in pieces. */
  readonly maxLineChars: number;
  /** Text without a newline yet is shown after this long. */
  readonly partialMs: number;
}

export const FOLLOW_LIMITS: FollowLimits = { pollMs: 200, maxBytes: 8 << 20, readBytes: 256 << 10, maxLineChars: 16 << 10, partialMs: 1000 };

type Stream = 'stdout' | 'stderr';
type OutputStep = Extract<LiveEvent, { kind: 'output' }>['step'];
type Emit = (stream: Stream, text: string, partial: boolean) => void;

export class SpoolFollower {
  private step: OutputStep | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly streams: readonly StreamFollower[];

  constructor(
    private readonly start: number,
    readers: { readonly stdout: SpoolReader; readonly stderr: SpoolReader },
    private readonly sink: (event: LiveEvent) => void,
    private readonly clock: () => number,
    private readonly limits: FollowLimits = FOLLOW_LIMITS,
  ) {
    const emit: Emit = (stream, text, partial) => {
      if (this.step !== null) this.sink({ kind: 'output', atMs: this.clock(), start: this.start, step: this.step, stream, text, partial });
    };
    const note = (text: string): void => this.sink({ kind: 'note', atMs: this.clock(), start: this.start, text });
    this.streams = (['stdout', 'stderr'] as const).map((s) => new StreamFollower(s, readers[s], limits, emit, note));
  }

  /** `step` writes to the spool files from now on; what is there already belongs to the one before. */
  begin(step: OutputStep): void {
    this.settle();
    this.step = step;
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.look(false), this.limits.pollMs);
      this.timer.unref();
    }
  }

  /** The step's process ended: show all it wrote, a last line without a newline too. */
  end(): void {
    this.settle();
  }

  /** Last look; the descriptors stay open (their owner closes them). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.settle();
  }

  /** One look at both files (stdout first): complete lines, and text left without a newline too long. */
  look(drain: boolean): void {
    const now = this.clock();
    for (const s of this.streams) s.look(now, drain);
  }

  private settle(): void {
    if (this.step === null) return;
    this.look(true);
    for (const s of this.streams) s.flush();
  }
}

class StreamFollower {
  private offset = 0;
  private shown = 0;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private pendingSince = 0;
  private stopped: boolean;
  private readonly buf: Buffer;

  constructor(
    private readonly stream: Stream,
    private readonly reader: SpoolReader,
    private readonly limits: FollowLimits,
    private readonly emit: Emit,
    private readonly note: (text: string) => void,
  ) {
    this.stopped = reader.fd === null;
    this.buf = Buffer.alloc(this.stopped ? 0 : limits.readBytes);
    if (reader.fd === null) note(`live ${stream} not followed: ${reader.problem}`);
  }

  /** Read what was written since the last look: one bounded read, or (drain) up to the size seen now. */
  look(now: number, drain: boolean): void {
    const fd = this.reader.fd;
    if (this.stopped || fd === null) return;
    let size: number;
    try {
      size = fstatSync(fd).size;
    } catch (err) {
      this.stop(`live ${this.stream} no longer followed: ${(err as Error).message}`);
      return;
    }
    if (size < this.offset) {
      // As tail -f does: the owner truncated it, what follows is written from its start.
      this.flush();
      this.note(`the spool ${this.stream} shrank from ${this.offset} to ${size} bytes (truncated by its owner); following it from its start`);
      this.offset = 0;
    }
    do {
      const room = this.limits.maxBytes - this.shown;
      if (this.offset < size && room <= 0) {
        this.flush();
        this.stop(`live ${this.stream} stops after ${this.limits.maxBytes} bytes of this start; the rest is in the spool file`);
        return;
      }
      const want = Math.min(size - this.offset, room, this.buf.length);
      if (want <= 0) break;
      let got: number;
      try {
        got = readSync(fd, this.buf, 0, want, this.offset);
      } catch (err) {
        this.stop(`live ${this.stream} no longer followed: ${(err as Error).message}`);
        return;
      }
      if (got === 0) break;
      this.offset += got;
      this.shown += got;
      this.take(this.decoder.write(this.buf.subarray(0, got)), now);
    } while (drain);
    if (this.pending !== '' && now - this.pendingSince >= this.limits.partialMs) this.showPending();
  }

  /** Everything held back: an incomplete UTF-8 sequence and a line without its newline. */
  flush(): void {
    const rest = this.decoder.end();
    if (rest !== '') this.take(rest, 0);
    this.showPending();
  }

  private take(text: string, now: number): void {
    const all = this.pending + text;
    let from = 0;
    for (let nl = all.indexOf('\n'); nl >= 0; nl = all.indexOf('\n', from)) {
      this.cut(all, from, nl);
      from = nl + 1;
    }
    const max = this.limits.maxLineChars;
    while (all.length - from > max) {
      this.emit(this.stream, all.slice(from, from + max), true);
      from += max;
    }
    const rest = all.slice(from);
    if (rest !== '' && (this.pending === '' || from > 0)) this.pendingSince = now;
    this.pending = rest;
  }

  /** One complete line all[from, nl), in pieces when longer than the bound; a CR before the LF dropped. */
  private cut(all: string, from: number, nl: number): void {
    const end = nl > from && all.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    const max = this.limits.maxLineChars;
    let at = from;
    while (end - at > max) {
      this.emit(this.stream, all.slice(at, at + max), true);
      at += max;
    }
    this.emit(this.stream, all.slice(at, end), false);
  }

  private showPending(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.emit(this.stream, text, true);
  }

  private stop(why: string): void {
    this.stopped = true;
    this.note(why);
  }
}
