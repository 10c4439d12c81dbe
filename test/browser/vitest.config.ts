// The browser tier (npm run test:webgpu), in headless Chromium (SwiftShader on CPU-only machines): WebGPU kernels,
// checkpoints loaded from URLs, the processor and the demo page.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/browser/**/*.browser.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One file at a time: the accuracy file keeps both cores busy in SwiftShader for minutes, and a file run beside it
    // measures that contention instead of itself (each file's limits are set for a machine to itself).
    fileParallelism: false,
  },
});
