import pLimit from 'p-limit';
import type { RunnerSettings } from './options.js';
import type { JobRun } from './state/index.js';
import { connectVm, openSftp, replaceFile, SshConnectError, type SshLimits, type VmSession, type VmTarget } from './ssh/index.js';

/**
 * A guest's sshd may be restarted just after readiness (a site image's own cloud-config, a
 * package's postinst): its listener refuses for a moment while sessions survive. Refused or
 * closed-at-login connects are retried for this long; every other failure counts at once.
 */
export const REFUSED_RETRY_MS = 20_000;
const REFUSED_PAUSE_MS = 1_000;
const TRANSIENT = /\bECONNREFUSED\b|closed during login/;

export async function connectRetryingRefused(t: VmTarget, limits: SshLimits, signal?: AbortSignal, retryMs = REFUSED_RETRY_MS): Promise<VmSession> {
  const until = performance.now() + retryMs;
  for (;;) {
    try {
      return await connectVm(t, limits, signal);
    } catch (err) {
      if (!(err instanceof SshConnectError) || !TRANSIENT.test(err.message) || performance.now() + REFUSED_PAUSE_MS > until) throw err;
      signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, REFUSED_PAUSE_MS));
    }
  }
}

/** Sessions to the job's VMs, rank order: `sessions[0]` is rank 0. */
export interface Fleet {
  readonly sessions: readonly VmSession[];
  readonly rank0: VmSession;
}

/** Connect to every VM of the job; when any fails, close the others and throw the first error in rank order. */
export async function openFleet(job: JobRun, settings: RunnerSettings, signal?: AbortSignal): Promise<Fleet> {
  const limit = pLimit(settings.parallel);
  const results = await Promise.allSettled(
    job.vms.map((vm) =>
      limit(() =>
        connectRetryingRefused({ vm: vm.name, host: vm.ip, port: settings.port, user: job.user, privateKey: job.privateKey, hostKey: vm.hostKey }, settings.ssh, signal),
      ),
    ),
  );
  const sessions = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    for (const s of sessions) s.end();
    throw failed.reason;
  }
  return { sessions, rank0: sessions[0] as VmSession };
}

/**
 * Put the job environment into every VM (the file login shells source), then close every session
 * but rank 0's. Each write replaces the file atomically.
 */
export async function writeEnvEverywhere(fleet: Fleet, path: string, content: string, parallel: number): Promise<void> {
  const limit = pLimit(parallel);
  await Promise.all(
    fleet.sessions.map((s) =>
      limit(async () => {
        const sftp = await openSftp(s);
        try {
          await replaceFile(s, sftp, path, content, 0o644);
        } finally {
          sftp.end();
        }
        if (s !== fleet.rank0) s.end();
      }),
    ),
  );
}

export function closeFleet(fleet: Fleet): void {
  for (const s of fleet.sessions) if (!s.lost) s.end();
}
