import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'adapters/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'test/bench/**'],
    // End-to-end tests compose, run maintainer scripts and deploy real trees; a loaded 2-core machine needs minutes.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // End-to-end tests share sysroots and the ostree binary; two cores do not gain from more workers.
    maxWorkers: 2,
  },
});
