import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:multinode`: multi-node VM jobs through real Torque 6.1.3 on the virtual cluster
// (`vtorque testbed`: nodes in namespaces of their own, each with libvirtd, sshd and a pbs_mom);
// TCG guests. Root only; everything is ended by PID and removed at the end.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['test/multinode/**/*.test.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 20 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
