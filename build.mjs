// Bundles every entry point into one ESM file under dist/ (fast start-up, nothing to resolve at
// run time). The native libvirt binding stays external and is installed beside the bundles.
import { build } from 'esbuild';

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
  legalComments: 'none',
  external: ['@unraid/libvirt', 'cpu-features'],
  // CommonJS dependencies (handlebars, yargs) call require() for Node built-ins.
  banner: { js: "import { createRequire as __vtqRequire } from 'node:module'; const require = __vtqRequire(import.meta.url);" },
  logLevel: 'warning',
});
