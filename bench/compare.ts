// `npx tsx bench/compare.ts BEFORE_DIR AFTER_DIR [ROUNDS] -- BENCH...`: the same benches of two
// checkouts (each with its own npm ci) in one run, alternating BEFORE, AFTER, BEFORE, ... so that
// a machine getting busier or quieter weighs on both alike. Prints one JSON line per metric:
// the median of each tree's values over the rounds, after/before, and every value.
import { spawnSync } from 'node:child_process';
import { median } from './stats.js';

const sep = process.argv.indexOf('--');
const [before, after, roundsText] = process.argv.slice(2, sep < 0 ? undefined : sep);
const benches = sep < 0 ? [] : process.argv.slice(sep + 1);
if (!before || !after || benches.length === 0) {
  process.stderr.write('usage: npx tsx bench/compare.ts BEFORE_DIR AFTER_DIR [ROUNDS] -- BENCH...\n');
  process.exit(2);
}
const rounds = Number(roundsText ?? 5);

/** metric -> tree -> values */
const values = new Map<string, { before: number[]; after: number[] }>();
function runOnce(tree: 'before' | 'after', dir: string): void {
  const r = spawnSync('npm', ['run', '-s', 'bench', '--', ...benches], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`npm run bench in ${dir} exited ${r.status}: ${r.stderr}`);
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { metric, value } = JSON.parse(line) as { metric: string; value: number };
    const v = values.get(metric) ?? { before: [], after: [] };
    v[tree].push(value);
    values.set(metric, v);
  }
}
for (let i = 0; i < rounds; i++) {
  runOnce('before', before);
  runOnce('after', after);
  process.stderr.write(`round ${i + 1}/${rounds} done\n`);
}
for (const [metric, v] of values) {
  const b = median(v.before);
  const a = median(v.after);
  process.stdout.write(`${JSON.stringify({ metric, before: b, after: a, ratio: b === 0 ? null : Math.round((a / b) * 1000) / 1000, rounds, before_values: v.before, after_values: v.after })}\n`);
}
