import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Slow tier: real libvirtd in a netns, real debootstrap. Root only. Run with
//   npm run test:e2e
// Files run one after another: TCG guests and debootstrap compete for the same 2 cores.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 5 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
