import type { Command } from 'commander';
import type { ReplayResult } from '../../app/operator-api.js';
import { ValidationError } from '../../core/errors.js';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json } from '../output.js';
import { parseDurationArg, parseLimit } from '../parse-input.js';
import { progress } from '../progress.js';

interface ReplayOptions {
  stuck?: boolean;
  olderThan: string;
  saga?: string;
  limit?: string;
  dryRun?: boolean;
  reason?: string;
}

/** `sagaflow replay (<saga> <key> | --stuck [--older-than 15m] [--saga NAME]) [--dry-run]`. */
export function replayCommand(program: Command, ctx: CliContext): void {
  program
    .command('replay')
    .description('re-drive instances: redeliver their dead letters, fire overdue timers (idempotent)')
    .argument('[saga]')
    .argument('[key]')
    .option('--stuck', 'every running/compensating instance without a step for --older-than')
    .option('--older-than <age>', 'with --stuck', '15m')
    .option('--saga <name>', 'with --stuck: only this saga')
    .option('--limit <n>', 'with --stuck: at most n instances (default 1000)')
    .option('--dry-run', 'list what would be done, do nothing')
    .addOption(reasonOption())
    .action(async (saga: string | undefined, key: string | undefined, o: ReplayOptions, cmd: Command) => {
      const opts = globals(cmd);
      const single = saga !== undefined && key !== undefined;
      if (single === Boolean(o.stuck) || (saga !== undefined && key === undefined)) {
        throw new ValidationError('replay', [{ path: 'arguments', message: 'give <saga> <key>, or --stuck (not both)' }]);
      }
      const olderThanMs = parseDurationArg('--older-than', o.olderThan);
      const limit = parseLimit('--limit', o.limit);
      const dryRun = o.dryRun ?? false;
      const results = await withOperator(opts, ctx, async (api) => {
        if (single) return [await api.replay(saga, key, { dryRun })];
        const targets = await api.replayTargets({ olderThanMs, ...(o.saga ? { saga: o.saga } : {}), ...(limit ? { limit } : {}) });
        const bar = progress(ctx.output, targets.length, dryRun ? 'planning' : 'replaying');
        const out: ReplayResult[] = [];
        try {
          for (const t of targets) {
            out.push(await api.replay(t.saga, t.key, { dryRun }));
            bar.tick();
          }
        } finally {
          bar.stop();
        }
        return out;
      }, withReason(o));
      if (opts.json) return void ctx.output.out(json(results));
      if (results.length === 0) return void ctx.output.out('no stuck instances');
      const lines: string[] = [];
      for (const r of results) {
        lines.push(`${r.saga} ${r.key}: ${r.actions.length === 0 ? 'nothing to do' : `${r.actions.length} action(s)${dryRun ? ' (dry run)' : ''}`}`);
        for (const a of r.actions) lines.push(a.skipped ? `  skipped: ${a.description} (${a.skipped})` : `  ${dryRun ? 'would ' : ''}${a.description}`);
      }
      ctx.output.out(lines.join('\n'));
    });
}
