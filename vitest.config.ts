import { defineConfig } from 'vitest/config';

// Tiers by file name: *.unit.test.ts, *.int.test.ts (real Postgres/Redis/PGlite), *.e2e.test.ts (subprocesses).
export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.unit.test.ts', 'sagas/**/*.unit.test.ts'] } },
      { extends: true, test: { name: 'int', include: ['test/**/*.int.test.ts', 'sagas/**/*.int.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.e2e.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
    ],
  },
});
