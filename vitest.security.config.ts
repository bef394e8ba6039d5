import { defineConfig } from 'vitest/config';

// `npm run test:security`: hostile inputs through the real entry points (vsub, the installed
// hooks, vmgr). Root only; prints `hostile inputs: N tried, M escaped`.
export default defineConfig({
  test: {
    include: ['test/security/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
