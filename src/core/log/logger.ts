import { closeSync, mkdirSync, openSync, constants } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface LoggerOptions {
  component: string;
  level: LogLevel;
  /** Root side: JSON lines appended to `<logDir>/<component>.log` (root-owned, never followed through a symlink). */
  logDir?: string;
  /** Readable one-line messages for a human (stderr, or a job's output); null for none. */
  human?: NodeJS.WritableStream | null;
}

/** DEBUG/TRACE as the original used them: TRACE implies DEBUG; otherwise the configured level. */
export function levelFor(base: LogLevel, debug: boolean, trace: boolean): LogLevel {
  if (trace) return 'trace';
  if (debug) return 'debug';
  return base;
}

/**
 * One logger per component. JSON to the log file for machines; `HH:MM:SS component level msg k=v`
 * lines for people. Values are JSON-encoded in the human line, so a user's newline cannot forge
 * another log line.
 */
export function createLogger(options: LoggerOptions): Logger {
  const streams: pino.StreamEntry[] = [];
  if (options.logDir) streams.push({ level: options.level, stream: openLogFile(options.logDir, options.component) });
  if (options.human) streams.push({ level: options.level, stream: humanStream(options.human) });
  return pino(
    { level: options.level, base: { component: options.component }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    streams.length > 0 ? pino.multistream(streams) : pino.destination({ dest: '/dev/null', sync: true }),
  );
}

function openLogFile(dir: string, component: string): pino.DestinationStream {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, `${component.replace(/[^A-Za-z0-9_.-]/g, '_')}.log`);
  // O_NOFOLLOW: a planted symlink at the log path must not redirect root's writes.
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  const dest = pino.destination({ fd, sync: true });
  process.once('exit', () => {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
  });
  return dest;
}

const SKIP = new Set(['level', 'time', 'msg', 'component', 'pid', 'hostname']);

function humanStream(target: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      try {
        const rec = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
        const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '';
        const extra = Object.entries(rec)
          .filter(([k]) => !SKIP.has(k))
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(' ');
        const msg = JSON.stringify(String(rec.msg ?? '')).slice(1, -1);
        target.write(`${time} ${String(rec.component)} ${String(rec.level)}: ${msg}${extra ? ` ${extra}` : ''}\n`);
      } catch {
        target.write(chunk);
      }
      done();
    },
  });
}
