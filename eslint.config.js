import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const driverImports = {
  paths: [
    { name: 'pg', message: 'core and sagas are driver-free: put Postgres code in src/postgres.' },
    { name: 'ioredis', message: 'core and sagas are driver-free: put Redis code in src/redis.' },
    { name: '@electric-sql/pglite', message: 'core and sagas are driver-free: put PGlite code in src/postgres.' },
  ],
  patterns: [{ group: ['**/postgres/**', '**/redis/**'], message: 'core and sagas may not import edge implementations.' }],
};

// The example sagas are written as a user writes them: against the package (`sagaflow`), never its sources.
const sagaImports = {
  paths: driverImports.paths,
  patterns: [...driverImports.patterns, { group: ['**/src/**', '**/dist/**'], message: "sagas import the public API: from 'sagaflow'." }],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.sagaflow/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  { files: ['src/core/**/*.ts', 'src/app/**/*.ts'], rules: { 'no-restricted-imports': ['error', driverImports] } },
  { files: ['sagas/**/*.ts'], rules: { 'no-restricted-imports': ['error', sagaImports] } },
  { files: ['src/**/*.ts'], ignores: ['src/cli/**'], rules: { 'no-console': 'error' } },
  { files: ['**/*.js', '**/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  // The dashboard runs in a browser.
  {
    files: ['src/api/ui/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(['document', 'window', 'location', 'localStorage', 'fetch', 'WebSocket', 'URLSearchParams', 'TextEncoder', 'Node', 'btoa', 'prompt', 'setTimeout', 'clearTimeout'].map((g) => [g, 'readonly'])),
    },
  },
);
