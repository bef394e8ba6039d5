// `npm run bench -- <name>`: each benchmark prints JSON lines {metric, value, unit, ...}.
const benches: Record<string, () => Promise<void>> = {
  vsub: async () => (await import('./vsub.js')).benchVsub(),
  engine: async () => (await import('./engine.js')).benchEngine(),
  hooks: async () => (await import('./hooks.js')).benchHooks(),
  e2e: async () => (await import('./e2e.js')).benchE2e(),
  torque: async () => (await import('./torque.js')).benchTorque(),
  boot: async () => (await import('./boot.js')).benchBoot(),
  multinode: async () => (await import('./multinode.js')).benchMultinode(),
  slurm: async () => (await import('./slurm.js')).benchSlurm(),
};

const names = process.argv.slice(2);
const unknown = names.filter((n) => !(n in benches));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(benches)) await benches[name]?.();
