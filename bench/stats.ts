import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Wall time of one synchronous run in milliseconds; throws when the command fails. */
export function timeRun(file: string, args: readonly string[], options: SpawnSyncOptions = {}): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(file, args, { stdio: 'ignore', ...options });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}`);
  return ms;
}

export function emit(metric: string, value: number, unit: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ metric, value: Math.round(value * 100) / 100, unit, ...extra })}\n`);
}
