import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // onnxruntime-node and ffmpeg child processes behave best in real processes, not worker threads.
    pool: 'forks',
    // 2-core machines: heavier files (full-size weights, model runs) must not all run at once.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
