import type { Writable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { GuestOperationError, SshLostError } from './errors.js';
import type { VmSession } from './session.js';

/** How a remote command ended: its exit code, the signal that killed it, or cancelled by us. */
export type RemoteExit = { readonly kind: 'code'; readonly code: number } | { readonly kind: 'signal'; readonly signal: string } | { readonly kind: 'aborted' };

export interface ExecIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** On abort: signal TERM, KILL one second before `graceMs` ends, then give up on the channel. */
  readonly signal?: AbortSignal | undefined;
  readonly graceMs: number;
}

/**
 * Run one command on the VM and stream its stdout/stderr to `io` as chunks arrive (with
 * backpressure). Resolves when the channel closes; rejects with SshLostError when the connection
 * goes before an exit status came (unless cancelled, which resolves `aborted`).
 */
export function execStreaming(s: VmSession, command: string, io: ExecIo): Promise<RemoteExit> {
  if (io.signal?.aborted) return Promise.resolve({ kind: 'aborted' });
  return new Promise((resolve, reject) => {
    let channel: ClientChannel | null = null;
    let status: RemoteExit | null = null;
    let aborted = false;
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (result: RemoteExit | Error): void => {
      if (done) return;
      done = true;
      stopWatching();
      io.signal?.removeEventListener('abort', onAbort);
      for (const t of timers) clearTimeout(t);
      channel?.unpipe(io.stdout);
      channel?.stderr.unpipe(io.stderr);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const stopWatching = s.onLost((err) => finish(aborted ? { kind: 'aborted' } : status ?? err));
    const onAbort = (): void => {
      aborted = true;
      if (!channel) return s.destroy('cancelled', 'cancel');
      const ch = channel;
      ch.signal('TERM');
      timers.push(setTimeout(() => ch.signal('KILL'), Math.max(0, io.graceMs - 1000)));
      timers.push(setTimeout(() => finish({ kind: 'aborted' }), io.graceMs));
    };
    try {
      s.client.exec(command, (err, ch) => {
        if (err) return finish(s.lost ?? new GuestOperationError(s.vm, 'cannot start the command', err.message));
        channel = ch;
        ch.pipe(io.stdout, { end: false });
        ch.stderr.pipe(io.stderr, { end: false });
        ch.on('exit', (code: number | null, signal?: string) => {
          status = code !== null ? { kind: 'code', code } : { kind: 'signal', signal: (signal ?? '?').replace(/^SIG/, '') };
        });
        // The connection's own close is seen first when it drops; give it that turn.
        ch.on('close', () => setImmediate(() => finish(aborted ? { kind: 'aborted' } : (status ?? s.lost ?? new SshLostError(s.vm, s.host, 'the session ended without an exit status', { fault: 'node' })))));
        if (io.signal?.aborted) onAbort();
      });
    } catch (err) {
      return finish(s.lost ?? new GuestOperationError(s.vm, 'cannot start the command', (err as Error).message));
    }
    io.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
