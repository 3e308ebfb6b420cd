import type { Command } from 'commander';
import { globals, withOperator, type CliContext } from '../context.js';
import { json } from '../output.js';

/** `sagaflow status`: how the CLI reaches the engine, the database, the sagas loaded. */
export function statusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show how commands reach the engine (daemon or direct), the database, schema, bus and sagas')
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const [status, route] = await withOperator(opts, ctx, async (api, r) => [await api.status(), r] as const);
      const out = { ...status, ...(route.kind === 'daemon' ? { url: route.url } : {}) };
      if (opts.json) return void ctx.output.out(json(out));
      ctx.output.out(
        [
          `mode:     ${out.mode}${out.url ? ` (${out.url})` : ''}`,
          `database: ${out.database}, schema ${out.schema}`,
          `bus:      ${out.bus ?? ''}`,
          `sagas:    ${out.sagas.join(', ') || '(none)'}`,
        ].join('\n'),
      );
    });
}
