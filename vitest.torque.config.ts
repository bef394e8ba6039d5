import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:torque`: the installed hooks under the real Torque 6.1.3 daemons from
// ../shared/torque (installed with its install.sh), inside a network namespace with the sandbox's
// libvirtd; TCG guests. Root only; the daemons are stopped by PID at the end.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['test/torque/**/*.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
