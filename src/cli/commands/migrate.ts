import type { Command } from 'commander';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json } from '../output.js';

/** `sagaflow migrate`: applies pending database migrations. */
export function migrateCommand(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description('apply pending database migrations (idempotent; serialised across processes)')
    .addOption(reasonOption())
    .action(async (o: { reason?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const result = await withOperator(opts, ctx, (api) => api.migrate(), { autoMigrate: false, ...withReason(o) });
      if (opts.json) ctx.output.out(json(result));
      else ctx.output.out(result.applied.length > 0 ? `applied ${result.applied.join(', ')}; schema at version ${result.current}` : `up to date (version ${result.current})`);
    });
}
