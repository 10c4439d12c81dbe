// Test tiers: unit (no backend), backend (op harness), model (golden parity), e2e (CLI/server as a user drives them).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
