import type { Command } from 'commander';
import type { StoredEvent } from '../../core/ports/event-store.js';
import { globals, withOperator, type CliContext } from '../context.js';
import { json, table } from '../output.js';
import { parseDurationArg, parseLimit } from '../parse-input.js';

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

const collect = (v: string, prev: string[] = []) => [...prev, v];

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
}
