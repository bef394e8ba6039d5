// Import rules of src/ (doc/architecture.md, "Roles and the imports between them"), checked by
// `npm test` through dependency-cruiser. Tests, fixtures and benches are harnesses: not checked.
const { readdirSync, statSync, existsSync } = require('node:fs');
const { join } = require('node:path');

const HARNESS = ['\\.test\\.ts$', '\\.fixture\\.ts$'];

/** Every folder under src/ with an index.ts: its public face. */
function indexedFolders(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!statSync(path).isDirectory()) continue;
    if (existsSync(join(path, 'index.ts'))) out.push(path);
    out.push(...indexedFolders(path));
  }
  return out;
}

// Which role may import which (core is the base and imports no role; cli holds the entry points
// and may import any role). An edge not listed here is refused. The lifecycle is what every
// scheduler adapter drives: an adapter (torque, slurm) imports core and the lifecycle only.
const MAY_IMPORT = {
  guest: ['core'],
  image: ['core'],
  sandbox: ['core'],
  // The testbed is a lab of its own: nodes made of the sandbox's libvirtd, the image, Torque's daemons.
  testbed: ['core', 'sandbox', 'image'],
  admin: ['core'],
  engine: ['core', 'guest'],
  runner: ['core', 'guest'],
  lifecycle: ['core', 'engine'],
  torque: ['core', 'lifecycle'],
  // The Slurm adapter (sbatch's grammar now, its hooks later): the same rule as Torque's.
  slurm: ['core', 'lifecycle'],
};

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'files that import each other in a loop',
      from: { path: '^src/', pathNot: HARNESS },
      to: { circular: true },
    },
    {
      name: 'core-imports-no-role',
      severity: 'error',
      comment: 'core is what every role builds on: it imports nothing outside core',
      from: { path: '^src/core/', pathNot: HARNESS },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    ...Object.entries(MAY_IMPORT).map(([role, allowed]) => ({
      name: `${role}-imports-only-${allowed.join('-')}`,
      severity: 'error',
      comment: `the ${role} role may import ${allowed.join(' and ')} only`,
      from: { path: `^src/${role}/`, pathNot: HARNESS },
      to: { path: '^src/', pathNot: [`^src/${role}/`, ...allowed.map((r) => `^src/${r}/`)] },
    })),
    {
      name: 'engine-head-reaches-nodes-through-node-access',
      severity: 'error',
      comment: 'the head of a job (plan, fan-out, readiness, node file) touches a node only through NodeAccess (src/engine/node/index.ts): never its libvirt, files or boot steps, so a node may be another host',
      from: { path: '^src/engine/head/', pathNot: HARNESS },
      to: { path: '^src/engine/(prepare|boot|teardown)/|^src/engine/(observe|gc|stop-job|node-context|context)\\.ts$' },
    },
    {
      name: 'engine-head-uses-libvirt-for-types-only',
      severity: 'error',
      comment: 'the head may name the log type the libvirt layer defines, nothing that talks to libvirt',
      from: { path: '^src/engine/head/', pathNot: HARNESS },
      to: { path: '^src/engine/libvirt/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'engine-uses-guest-only-to-build-the-seed',
      severity: 'error',
      comment: 'what the guest sees is defined by contracts in core (guest-layout.v1, guest-seed.v1); the guest role builds the seed from them, and only the node steps that make a seed (prepare/, the node context that loads its templates) may call it',
      from: { path: '^src/engine/', pathNot: ['^src/engine/prepare/', '^src/engine/(node-context|context)\\.ts$', ...HARNESS] },
      to: { path: '^src/guest/' },
    },
    {
      name: 'engine-node-does-not-know-the-head',
      severity: 'error',
      comment: 'a node does what it is asked; it never drives the job (src/engine/head/)',
      from: { path: '^src/engine/node/', pathNot: HARNESS },
      to: { path: '^src/engine/head/' },
    },
    ...indexedFolders('src').map((dir) => {
      const d = escape(dir);
      return {
        name: `enter-${dir.replace(/^src\//, '').replace(/\//g, '-')}-through-its-index`,
        severity: 'error',
        comment: `${dir}/ is entered through ${dir}/index.ts from outside it`,
        from: { path: '^src/', pathNot: [`^${d}/`, ...HARNESS] },
        to: { path: `^${d}/`, pathNot: `^${d}/index\\.ts$` },
      };
    }),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|test|bench)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
