import type { Command } from 'commander';
import type { DeadLetter } from '../../core/ports/dead-letters.js';
import { ValidationError } from '../../core/errors.js';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json, table, when } from '../output.js';
import { parseLimit } from '../parse-input.js';
import { progress } from '../progress.js';

interface ListOptions {
  status: string;
  saga?: string;
  handler?: string;
  limit?: string;
}

const statuses = ['open', 'retried', 'discarded', 'all'];

function describe(l: DeadLetter): string {
  const lines = [
    `id:          ${l.id}`,
    `status:      ${l.status}${l.note ? ` (${l.note})` : ''}`,
    `handler:     ${l.handlerId}`,
    ...(l.saga ? [`saga:        ${l.saga}${l.sagaKey ? ` ${l.sagaKey}` : ''}`] : []),
    `event:       ${l.event.type} ${l.event.id} (stream ${l.event.streamId})`,
    `attempts:    ${l.attempts}`,
    `first fail:  ${when(l.firstFailedAt)}`,
    `last fail:   ${when(l.lastFailedAt)}`,
    `error:       ${l.error.code ? `[${l.error.code}] ` : ''}${l.error.message}`,
    `data:        ${JSON.stringify(l.event.data)}`,
  ];
  if (l.error.stack) lines.push('stack:', ...l.error.stack.split('\n').map((s) => `  ${s}`));
  return lines.join('\n');
}

/** `sagaflow dlq list|show|retry|discard`. */
export function dlqCommand(program: Command, ctx: CliContext): void {
  const dlq = program.command('dlq').description('dead letters: events a handler or saga gave up on');

  dlq
    .command('list')
    .description('list dead letters (open ones by default)')
    .option('--status <status>', `one of ${statuses.join(', ')}`, 'open')
    .option('--saga <name>', 'only this saga')
    .option('--handler <id>', 'only this handler / subscription group')
    .option('--limit <n>', 'at most n (default 100)')
    .action(async (o: ListOptions, cmd: Command) => {
      const opts = globals(cmd);
      if (!statuses.includes(o.status)) throw new ValidationError('--status', [{ path: '--status', message: `"${o.status}" is not one of ${statuses.join(', ')}` }]);
      const limit = parseLimit('--limit', o.limit);
      const letters = await withOperator(opts, ctx, (api) =>
        api.listDeadLetters({
          ...(o.status !== 'all' ? { status: o.status as DeadLetter['status'] } : {}),
          ...(o.saga ? { saga: o.saga } : {}),
          ...(o.handler ? { handlerId: o.handler } : {}),
          ...(limit ? { limit } : {}),
        }),
      );
      if (opts.json) return void ctx.output.out(json(letters));
      if (letters.length === 0) return void ctx.output.out(`no ${o.status === 'all' ? '' : `${o.status} `}dead letters`);
      ctx.output.out(
        table(
          ['id', 'status', 'handler', 'saga / key', 'event', 'attempts', 'last failure', 'error'],
          letters.map((l) => [l.id, l.status, l.handlerId, l.saga ? `${l.saga} ${l.sagaKey ?? ''}` : '', l.event.type, l.attempts, l.lastFailedAt, l.error.message.slice(0, 80)]),
          ctx.output,
        ),
      );
    });

  dlq
    .command('show')
    .description('show one dead letter: event, error, stack, attempts')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const letter = await withOperator(opts, ctx, (api) => api.getDeadLetter(id));
      ctx.output.out(opts.json ? json(letter) : describe(letter));
    });

  dlq
    .command('retry')
    .description('redeliver a dead letter to the saga or handler that failed it (or every open one with --all)')
    .argument('[id]')
    .option('--all', 'retry every open dead letter')
    .option('--saga <name>', 'with --all: only this saga')
    .addOption(reasonOption())
    .action(async (id: string | undefined, o: { all?: boolean; saga?: string; reason?: string }, cmd: Command) => {
      const opts = globals(cmd);
      if ((id === undefined) === !o.all) throw new ValidationError('dlq retry', [{ path: 'id', message: 'give a dead letter id or --all (not both)' }]);
      const done = await withOperator(opts, ctx, async (api) => {
        if (id !== undefined) return [await api.retryDeadLetter(id)];
        const open = await api.listDeadLetters({ status: 'open', limit: 10_000, ...(o.saga ? { saga: o.saga } : {}) });
        const bar = progress(ctx.output, open.length, 'retrying');
        const out: DeadLetter[] = [];
        try {
          for (const l of open) {
            out.push(await api.retryDeadLetter(l.id));
            bar.tick();
          }
        } finally {
          bar.stop();
        }
        return out;
      }, withReason(o));
      if (opts.json) return void ctx.output.out(json(done));
      ctx.output.out(done.length === 0 ? 'no open dead letters' : done.map((l) => `retried ${l.id} (${l.event.type})`).join('\n'));
    });

  dlq
    .command('discard')
    .description('mark a dead letter discarded, with the reason (kept for audit)')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why it is discarded')
    .action(async (id: string, o: { reason: string }, cmd: Command) => {
      const opts = globals(cmd);
      const letter = await withOperator(opts, ctx, (api) => api.discardDeadLetter(id, o.reason), { reason: o.reason });
      ctx.output.out(opts.json ? json(letter) : `discarded ${letter.id} (${letter.event.type}): ${o.reason}`);
    });
}
