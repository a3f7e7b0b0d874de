import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 300_000,
    // Real databases and a real Gerrit are shared machine resources: keep files in sequence.
    fileParallelism: false,
  },
});
