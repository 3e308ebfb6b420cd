import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { scaffoldFiles, scaffoldScripts } from '../init/templates.js';
import type { CliContext } from '../context.js';
import { globals } from '../context.js';
import { json } from '../output.js';

/**
 * `sagaflow init [dir]`: scaffolds a project (sagaflow.yaml, one saga folder with its test, one worker). Never
 * overwrites a file unless `--force`; adds `test`/`start` scripts (where not set) to an existing package.json
 * and sets its `"type": "module"`.
 */
export function initCommand(program: Command, ctx: CliContext): void {
  program
    .command('init [dir]')
    .description('scaffold a project: sagaflow.yaml, a saga (events, machine, definition, test) and a worker')
    .option('--force', 'overwrite files that exist')
    .action((dir: string | undefined, o: { force?: boolean }, cmd: Command) => {
      const opts = globals(cmd);
      const root = path.resolve(process.cwd(), dir ?? '.');
      const files = scaffoldFiles();
      const existing = files.filter((f) => existsSync(path.join(root, f.path))).map((f) => f.path);
      if (existing.length > 0 && !o.force) {
        throw new ConfigError(`sagaflow init would overwrite ${existing.join(', ')} in ${root}; move them away or pass --force`, { key: 'init', value: root });
      }
      for (const f of files) {
        mkdirSync(path.dirname(path.join(root, f.path)), { recursive: true });
        writeFileSync(path.join(root, f.path), f.text);
      }
      const pkgPath = path.join(root, 'package.json');
      const changed: string[] = [];
      if (existsSync(pkgPath)) {
        let pkg: Record<string, unknown>;
        try {
          pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as Record<string, unknown>;
        } catch (err) {
          throw new ConfigError(`${pkgPath} is not valid JSON (${(err as Error).message}); fix it, then run sagaflow init --force`, { key: 'package.json' });
        }
        const scripts = { ...((pkg.scripts as Record<string, string> | undefined) ?? {}) };
        for (const [name, command] of Object.entries(scaffoldScripts)) {
          // npm init's placeholder test script is replaced; anything else the user wrote stays.
          if (scripts[name] === undefined || /no test specified/.test(scripts[name]!)) {
            scripts[name] = command;
            changed.push(`scripts.${name}`);
          }
        }
        // The scaffold is ESM TypeScript: a CommonJS package (`npm init -y` writes "type": "commonjs") would make
        // tsx compile it to CommonJS, which cannot load sagaflow's ES modules in a cycle.
        if (pkg.type !== 'module') {
          changed.push(`type: module${pkg.type === undefined ? '' : ` (was ${String(pkg.type)}; .js files of this package now load as ES modules)`}`);
          pkg.type = 'module';
        }
        writeFileSync(pkgPath, `${JSON.stringify({ ...pkg, scripts }, null, 2)}\n`);
      }
      if (opts.json) return void ctx.output.out(json({ root, files: files.map((f) => f.path), packageJson: changed }));
      ctx.output.out(
        [
          `created in ${root}:`,
          ...files.map((f) => `  ${f.path}`),
          ...(changed.length ? [`package.json: ${changed.join(', ')}`] : ['(no package.json: add "type": "module" and a test script: node --import tsx --test sagas/order/order.test.ts)']),
          '',
          'next: npm test, then npx sagaflow run (see SAGAFLOW.md)',
        ].join('\n'),
      );
    });
}
