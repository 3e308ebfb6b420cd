import type { Command } from 'commander';
import type { ProjectionState } from '../../app/sourcing-api.js';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json, table, when } from '../output.js';
import { parseDurationArg } from '../parse-input.js';
import { progress } from '../progress.js';

const row = (p: ProjectionState) => [p.name, p.handles.join(' '), p.delivery, p.position ?? '—', p.lag, p.owner ?? '—', p.updatedAt ? when(p.updatedAt) : 'never'];
const head = ['name', 'handles', 'delivery', 'position', 'lag', 'running on', 'checkpoint saved'];

/** `sagaflow projections list|status|reset|rebuild`. */
export function projectionsCommand(program: Command, ctx: CliContext): void {
  const projections = program.command('projections').description('read models built from the event log (defineProjection)');
  const print = (states: ProjectionState[], asJson: boolean | undefined) =>
    ctx.output.out(asJson ? json(states) : states.length === 0 ? 'no projections (export defineProjection() results from the sagas module)' : table(head, states.map(row), ctx.output));

  projections
    .command('list')
    .description('every projection with its checkpoint, lag (events still to read) and the daemon running it')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      print(await withOperator(opts, ctx, (api) => api.listProjections()), opts.json);
    });

  projections
    .command('status <name>')
    .description('one projection: checkpoint, lag, owner')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const state = await withOperator(opts, ctx, (api) => api.projectionStatus(name));
      ctx.output.out(opts.json ? json(state) : table(head, [row(state)], ctx.output));
    });

  projections
    .command('reset <name>')
    .description('empty the projection (its reset) and move its checkpoint back to its start; the daemon running it starts over')
    .addOption(reasonOption())
    .action(async (name: string, o: { reason?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const state = await withOperator(opts, ctx, (api) => api.resetProjection(name), withReason(o));
      ctx.output.out(opts.json ? json(state) : `reset ${name}: ${state.lag} events to read again`);
    });

  projections
    .command('rebuild <name>')
    .description('reset, then read the log up to its head (here on the database, or on the daemon), with progress')
    .option('--timeout <duration>', 'through a daemon: how long to follow its progress', '10m')
    .addOption(reasonOption())
    .action(async (name: string, o: { timeout: string; reason?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const timeoutMs = parseDurationArg('--timeout', o.timeout);
      let bar: ReturnType<typeof progress> | undefined;
      try {
        const state = await withOperator(opts, ctx, (api) =>
          api.rebuildProjection(name, {
            timeoutMs,
            onProgress: ({ lag, total }) => {
              bar ??= progress(ctx.output, total, `rebuild ${name}`);
              bar.set(total - lag);
            },
          }),
          withReason(o),
        );
        bar?.stop();
        ctx.output.out(opts.json ? json(state) : `rebuilt ${name}: at position ${state.position ?? '—'}, lag ${state.lag}`);
      } finally {
        bar?.stop();
      }
    });
}
