import type { Command } from 'commander';
import { globals, withOperator, type CliContext } from '../context.js';
import { json, table, when } from '../output.js';
import { versionsTable } from './saga-versions.js';

/** `sagaflow status`: how the CLI reaches the engine, the database, the sagas loaded. */
export function statusCommand(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show how commands reach the engine (daemon or direct), the database, schema, bus, sagas and workers')
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
          `workers:  ${out.workers?.length ? '' : '(none registered; see docs/workers.md)'}`,
        ].join('\n'),
      );
      if (out.versions?.length) ctx.output.out(versionsTable(out.versions, ctx.output));
      if (out.workers?.length) {
        ctx.output.out(
          table(
            ['worker', 'handles', 'waiting', 'in flight', 'dead letters', 'last claim'],
            out.workers.map((w) => [w.name, w.handles.join(', '), w.waiting, w.inFlight, w.deadLetters, w.seenAt ? `${when(w.seenAt)} by ${w.seenBy ?? '?'}` : 'never']),
            ctx.output,
          ),
        );
      }
    });
}
