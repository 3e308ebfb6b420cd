import type { Command } from 'commander';
import type { StoredEvent } from '../../core/ports/event-store.js';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json, table } from '../output.js';
import { parseDurationArg, parseLimit, parseLogBound } from '../parse-input.js';
import { ValidationError } from '../../core/errors.js';

interface QueryOptions {
  type?: string[];
  stream?: string;
  after?: string;
  limit?: string;
}
interface TailOptions {
  type?: string[];
  stream?: string;
  interval: string;
  count?: string;
  fromStart?: boolean;
}

interface ReplayOptions {
  type?: string[];
  from?: string;
  to?: string;
  toBus?: boolean;
  toProjection?: string;
  dryRun?: boolean;
  limit?: string;
  reason?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const byTypeTable = (rows: Array<{ type: string; count: number }>, ctx: CliContext) => table(['type', 'events'], rows.map((r) => [r.type, r.count]), ctx.output);

function rows(events: StoredEvent[]): Array<Array<string | number>> {
  return events.map((e) => [e.position, e.timestamp, e.type, e.streamId, e.id]);
}

function line(e: StoredEvent): string {
  return `${e.timestamp}  #${e.position}  ${e.type}  stream=${e.streamId}  id=${e.id}  ${JSON.stringify(e.data)}`;
}

/** `sagaflow events query|tail`. */
export function eventsCommand(program: Command, ctx: CliContext): void {
  const events = program.command('events').description('read the event log');

  events
    .command('query')
    .description('list stored events: the newest --limit matching, or those after a cursor (--after)')
    .option('--type <pattern>', 'type pattern (*, task.*, *.created, exact); repeatable', collect)
    .option('--stream <id>', 'only this stream')
    .option('--after <cursor>', 'a cursor printed by a previous query (next: ...) or an event\'s cursor field')
    .option('--limit <n>', 'at most n events (default 100, max 10000)')
    .action(async (o: QueryOptions, cmd: Command) => {
      const opts = globals(cmd);
      const limit = parseLimit('--limit', o.limit);
      const page = await withOperator(opts, ctx, (api) =>
        api.queryEvents({ ...(o.type ? { types: o.type } : {}), ...(o.stream ? { streamId: o.stream } : {}), ...(o.after ? { after: o.after } : {}), ...(limit ? { limit } : {}) }),
      );
      if (opts.json) {
        ctx.output.out(json(page));
        return;
      }
      ctx.output.out(page.events.length === 0 ? 'no events' : table(['position', 'time', 'type', 'stream', 'id'], rows(page.events), ctx.output));
      if (page.next) ctx.output.out(`next: ${page.next}`);
    });

  events
    .command('tail')
    .description('follow the event log: print events as they are committed (Ctrl-C to stop)')
    .option('--type <pattern>', 'type pattern; repeatable', collect)
    .option('--stream <id>', 'only this stream')
    .option('--interval <duration>', 'poll interval', '500ms')
    .option('--count <n>', 'exit after n events')
    .option('--from-start', 'start at the beginning of the log instead of its end')
    .action(async (o: TailOptions, cmd: Command) => {
      const opts = globals(cmd);
      const intervalMs = parseDurationArg('--interval', o.interval);
      const count = parseLimit('--count', o.count, Number.MAX_SAFE_INTEGER);
      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await withOperator(opts, ctx, async (api) => {
          let after = o.fromStart ? '0.0' : ((await api.latestCursor()) ?? '0.0');
          let seen = 0;
          while (!stop) {
            const page = await api.queryEvents({ after, limit: 500, ...(o.type ? { types: o.type } : {}), ...(o.stream ? { streamId: o.stream } : {}) });
            for (const e of page.events) {
              ctx.output.out(opts.json ? JSON.stringify(e) : line(e));
              seen++;
              if (count !== undefined && seen >= count) return;
            }
            if (page.next) after = page.next;
            if (page.events.length === 0) await new Promise((r) => setTimeout(r, intervalMs));
          }
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  events
    .command('replay')
    .description('send stored events again, marked metadata.replay, to the bus handlers or to a projection that opted in (replay: true)')
    .option('--type <pattern>', 'type pattern; repeatable', collect)
    .option('--from <time|position>', 'first event: an ISO-8601 time or a log position')
    .option('--to <time|position>', 'last event: an ISO-8601 time or a log position')
    .option('--to-bus', "to the transport's subscribers that subscribed with { replay: true } (needs the daemon)")
    .option('--to-projection <name>', "to that projection's apply (it must declare replay: true)")
    .option('--dry-run', 'count what would be sent, send nothing')
    .option('--limit <n>', 'at most n events (default 100000)')
    .addOption(reasonOption())
    .action(async (o: ReplayOptions, cmd: Command) => {
      const opts = globals(cmd);
      if (Boolean(o.toBus) === (o.toProjection !== undefined)) {
        throw new ValidationError('events replay', [{ path: '--to-bus/--to-projection', message: 'name exactly one target: --to-bus or --to-projection <name>' }]);
      }
      const limit = parseLimit('--limit', o.limit, 1_000_000);
      const result = await withOperator(opts, ctx, (api) =>
        api.replayEvents({
          target: o.toProjection !== undefined ? { projection: o.toProjection } : { bus: true },
          dryRun: o.dryRun ?? false,
          ...(o.type ? { types: o.type } : {}),
          ...(o.from ? { from: parseLogBound('--from', o.from) } : {}),
          ...(o.to ? { to: parseLogBound('--to', o.to) } : {}),
          ...(limit ? { limit } : {}),
        }),
        withReason(o),
      );
      if (opts.json) return ctx.output.out(json(result));
      const range = result.firstPosition === undefined ? '' : ` (positions ${result.firstPosition}–${result.lastPosition})`;
      ctx.output.out(`${result.dryRun ? 'would replay' : 'replayed'} ${result.matched} events to ${result.target}${range}, marked replay=${result.replayId}`);
      if (result.byType.length > 0) ctx.output.out(byTypeTable(result.byType, ctx));
    });

  events
    .command('prune')
    .description('retention: remove (or archive) events older than EVENT_STORE_RETENTION_DAYS that nothing needs any more')
    .option('--dry-run', 'print what would go, change nothing')
    .option('--older-than-days <n>', 'override EVENT_STORE_RETENTION_DAYS for this run')
    .addOption(reasonOption())
    .action(async (o: { dryRun?: boolean; olderThanDays?: string; reason?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const days = parseLimit('--older-than-days', o.olderThanDays, 36_500);
      const r = await withOperator(opts, ctx, (api) => api.retention({ dryRun: o.dryRun ?? false, ...(days === undefined ? {} : { olderThanDays: days }) }), withReason(o));
      if (opts.json) return ctx.output.out(json(r));
      ctx.output.out(`${r.dryRun ? 'would ' : ''}${r.mode} ${r.removed} of ${r.expired} events that occurred before ${r.cutoff}`);
      const kept = [
        r.kept.unread ? `${r.kept.unread} not yet read by ${r.slowestReader ?? 'a reader'}` : '',
        r.kept.liveSaga ? `${r.kept.liveSaga} applied to sagas still running` : '',
        r.kept.aggregate ? `${r.kept.aggregate} of aggregates after their latest snapshot` : '',
      ].filter(Boolean);
      if (kept.length > 0) ctx.output.out(`kept: ${kept.join('; ')}`);
      if (r.byType.length > 0) ctx.output.out(byTypeTable(r.byType, ctx));
    });
}
