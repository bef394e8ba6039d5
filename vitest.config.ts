import { defineConfig } from 'vitest/config';

// Default tier: unit, libvirt test-driver and hook-contract tests. Real-VM tests live in test/e2e
// and run with `npm run test:e2e`.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/security/**', 'test/faults/**', 'test/torque/**', 'test/multinode/**', 'test/slurm/**', 'node_modules/**'],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
