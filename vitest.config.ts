import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default is one worker fewer than the cores: one worker on a 2-core machine (CI's),
    // where most of the suite waits on child processes, servers and timers rather than the CPU.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    setupFiles: ['test/support/fastCheckSeed.ts'],
  },
});
