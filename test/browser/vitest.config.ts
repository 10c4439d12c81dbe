// The browser tier (npm run test:webgpu): WebGPU kernels in headless Chromium (SwiftShader on CPU-only machines).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/browser/**/*.browser.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
