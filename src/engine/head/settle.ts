import pLimit from 'p-limit';

/**
 * Run every task (at most `concurrency` at once) and wait for all of them, so none still works on a
 * node while the caller cleans up; then rethrow the first failure, or return the results in order.
 */
export async function settleAll<T>(tasks: readonly (() => Promise<T>)[], concurrency: number, onMore?: (errors: readonly unknown[]) => void): Promise<T[]> {
  const limit = pLimit(Math.max(1, concurrency));
  const results = await Promise.allSettled(tasks.map((t) => limit(t)));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failures.length > 1) onMore?.(failures.map((f) => f.reason as unknown));
  if (failures[0]) throw failures[0].reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
