import { setTimeout as sleep } from 'node:timers/promises';

/** Wait `ms`; when `signal` aborts, reject with its reason (not a generic AbortError). */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    signal?.throwIfAborted();
    throw err;
  }
}
