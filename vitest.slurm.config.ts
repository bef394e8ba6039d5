import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:slurm`: the installed hooks under the real Slurm 22.05 daemons (Debian slurm-wlm:
// slurmctld, slurmd, munge), started inside a network namespace with the sandbox's libvirtd and
// stopped by PID at the end; TCG guests. Root only.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['test/slurm/**/*.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 20 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
