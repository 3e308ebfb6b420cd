import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * Compiles `src` and `sagas` plus the given extra files of the repository to plain JavaScript under
 * `<buildDir>/dist` (incrementally), with the SQL migrations beside them, so a test or bench can run a
 * daemon or the CLI as a user does: plain node, no TypeScript loader. Type errors elsewhere in a tree under
 * construction do not block it (tsc still emits); a missing `expect`ed output does. A package.json beside
 * `dist` (the repository's name and `exports`) lets the compiled `sagas/` import `sagaflow` by self-reference,
 * as they do in the published package.
 */
export function compileForNode(buildDir: string, extra: readonly string[], expect: readonly string[]): void {
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(
    path.join(buildDir, 'tsconfig.json'),
    JSON.stringify({
      extends: path.join(root, 'tsconfig.build.json'),
      compilerOptions: { outDir: './dist', rootDir: root, noEmit: false, declaration: false, sourceMap: false, incremental: true, tsBuildInfoFile: './tsbuildinfo' },
      include: [path.join(root, 'src'), path.join(root, 'sagas'), ...extra.map((f) => path.join(root, f))],
      exclude: ['**/*.test.ts'],
    }),
  );
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(buildDir, 'tsconfig.json')], { encoding: 'utf8', timeout: 180_000 });
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; type: string; exports: unknown };
  writeFileSync(path.join(buildDir, 'package.json'), JSON.stringify({ name: pkg.name, type: pkg.type, exports: pkg.exports }, null, 2));
  cpSync(path.join(root, 'src/postgres/migrations'), path.join(buildDir, 'dist/src/postgres/migrations'), { recursive: true });
  const missing = expect.filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`the build did not produce ${missing.join(', ')}: ${(r.stdout ?? '').slice(0, 2000)}${r.stderr ?? ''}`);
}
