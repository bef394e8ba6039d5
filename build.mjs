// Bundles every entry point into one ESM file under dist/ (fast start-up, nothing to resolve at
// run time). @unraid/libvirt's JavaScript is bundled too; its compiled addon is copied to
// build/Release/libvirt.node, which is where the bundled loader looks (relative to dist/).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('build/Release', { recursive: true });
copyFileSync('node_modules/@unraid/libvirt/build/Release/libvirt.node', 'build/Release/libvirt.node');

const entries = {
  vsub: 'src/cli/vsub/main.ts',
  vmgr: 'src/cli/vmgr/main.ts',
  vtorque: 'src/cli/vtorque/main.ts',
  hook: 'src/hooks/main.ts',
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
  // CommonJS dependencies (handlebars, yargs) call require() for Node built-ins.
  banner: { js: "import { createRequire as __vtqRequire } from 'node:module'; const require = __vtqRequire(import.meta.url);" },
  logLevel: 'warning',
});
