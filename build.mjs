// Bundles every entry point into one ESM file under dist/ (fast start-up, nothing to resolve at
// run time). @unraid/libvirt's JavaScript is bundled too; its compiled addon is copied to
// build/Release/libvirt.node, which is where the bundled loader looks (relative to dist/).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('build/Release', { recursive: true });
copyFileSync('node_modules/@unraid/libvirt/build/Release/libvirt.node', 'build/Release/libvirt.node');

const entries = {
  vsub: 'src/cli/vsub/main.ts',
  vsbatch: 'src/cli/vsbatch/main.ts',
  vmgr: 'src/cli/vmgr/main.ts',
  vtorque: 'src/cli/vtorque/main.ts',
  hook: 'src/torque/hooks/main.ts',
  'slurm-hook': 'src/slurm/hooks/main.ts',
  // The job runner alone (the job user's process): no libvirt, no root or admin code.
  'job-run': 'src/runner/main.ts',
};

await build({
  entryPoints: entries,
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: false,
  minify: true,
  legalComments: 'none',
  // ssh2's optional native crypto stays out (it falls back to pure JS); cpu-features likewise.
  external: ['cpu-features', '*.node', '../build/Release/libvirt'],
  // CommonJS dependencies call require() for Node built-ins (handlebars, yargs) and use __dirname (ssh2).
  banner: {
    js: [
      "import { createRequire as __vtqRequire } from 'node:module';",
      "import { fileURLToPath as __vtqFileURLToPath } from 'node:url';",
      "import { dirname as __vtqDirname } from 'node:path';",
      'const require = __vtqRequire(import.meta.url);',
      'const __filename = __vtqFileURLToPath(import.meta.url);',
      'const __dirname = __vtqDirname(__filename);',
    ].join(' '),
  },
  logLevel: 'warning',
});
