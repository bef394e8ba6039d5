import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:faults`: faults injected into real starts and stops (libvirt's test driver in
// process; the installed hooks against a real libvirtd + qemu in a sandbox netns). Root only;
// prints `faults: N survived, M leaked`. About 4 minutes; no guest OS is booted.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 5 * 60_000,
    hookTimeout: 5 * 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
