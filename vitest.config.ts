import { defineConfig } from 'vitest/config';

// Tiers by file name: *.unit.test.ts, *.int.test.ts (real Postgres/Redis/PGlite), *.e2e.test.ts (subprocesses).
export default defineConfig({
  // `sagaflow` (imported by sagas/ and tests) resolves to the TypeScript sources, not dist/: the custom
  // export condition of package.json (ADR 0009). The other names are Vite's server defaults, which a
  // `conditions` list replaces, less 'module': vitest passes the list to node as `--conditions`, and node
  // would then load the bundler-only ESM builds of packages such as @opentelemetry/api (extensionless imports).
  ssr: { resolve: { conditions: ['sagaflow-source', 'node', 'development|production'] } },
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.unit.test.ts', 'sagas/**/*.unit.test.ts'] } },
      { extends: true, test: { name: 'int', include: ['test/**/*.int.test.ts', 'sagas/**/*.int.test.ts'], testTimeout: 30_000, hookTimeout: 30_000 } },
      { extends: true, test: { name: 'e2e', include: ['test/**/*.e2e.test.ts'], testTimeout: 120_000, hookTimeout: 60_000 } },
    ],
  },
});
