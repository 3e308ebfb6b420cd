import type { Command } from 'commander';
import type { SagaHistoryEntry, SagaStatus, StepEffects } from '../../core/ports/saga-store.js';
import { SagaStatus as Statuses } from '../../core/ports/saga-store.js';
import { ValidationError } from '../../core/errors.js';
import type { SagaDetails, SagaWhy } from '../../app/operator-api.js';
import { globals, withOperator, type CliContext } from '../context.js';
import { json, show, table, when, type TableOutput } from '../output.js';
import { parseDurationArg, parseLimit } from '../parse-input.js';
import { sagasExportCommand } from './sagas-export.js';
import { sagaVersionCommands } from './saga-versions.js';
import { sagasWaitCommand } from './sagas-wait.js';

interface ListOptions {
  saga?: string;
  status?: string;
  definition?: string;
  stuck?: string | boolean;
  limit?: string;
}

const statusList = Object.values(Statuses);

function effects(e: StepEffects | undefined): string {
  if (!e) return '';
  const parts = [
    ...e.emitted.map((x) => `emit ${x.type}`),
    ...e.timersScheduled.map((t) => `timer ${t.event} @ ${t.dueAt}`),
    ...e.timersCancelled.map((t) => `cancel ${t}`),
  ];
  return parts.join('\n');
}

function historyTable(history: SagaHistoryEntry[], out: TableOutput): string {
  if (history.length === 0) return 'no history';
  return table(
    ['#', 'time', 'event', 'from → to', 'kind', 'effects'],
    // Numbered per instance, 1…n (the row's global seq is in --json).
    history.map((h, i) => [i + 1, h.at, `${h.eventType}\n${h.eventId}`, `${show(h.fromState) || '(new)'} → ${show(h.toState)}`, h.note ? `${h.kind}: ${h.note}` : h.kind, effects(h.effects)]),
    out,
  );
}

function details(d: SagaDetails, out: TableOutput): string {
  const i = d.instance;
  const lines = [
    `saga:      ${i.saga}`,
    `key:       ${i.key}`,
    `status:    ${i.status}`,
    `state:     ${show(i.state)}`,
    `version:   ${i.version} (definition v${i.definitionVersion})`,
    `created:   ${when(i.createdAt)}`,
    `updated:   ${when(i.updatedAt)}`,
    `context:   ${JSON.stringify(i.context)}`,
    '',
    `pending timers (${d.timers.length}):`,
    ...d.timers.map((t) => `  ${t.event.type} due ${when(t.dueAt)}  [${t.id}]`),
    `emitted (last ${d.emitted.length}):`,
    ...d.emitted.map((e) => `  ${e.type} ${e.id} → stream ${e.streamId}`),
    `dead letters (${d.deadLetters.length}):`,
    ...d.deadLetters.map((l) => `  ${l.id} ${l.status} ${l.event.type}: ${l.error.message}`),
    '',
    `last ${d.history.length} history entries:`,
    historyTable(d.history, out),
  ];
  return lines.join('\n');
}

function why(w: SagaWhy): string {
  return [
    ...w.summary,
    '',
    `accepts:       ${w.accepts.join(', ') || '(nothing)'}`,
    `timers:        ${w.timers.map((t) => `${t.event.type} due ${when(t.dueAt)}`).join('; ') || '(none)'}`,
    `dead letters:  ${w.deadLetters.map((l) => `${l.id} ${l.event.type}: ${l.error.message}`).join('; ') || '(none)'}`,
    `not applied:   ${w.rejected.map((r) => `${r.eventType} (${r.kind}${r.note ? `: ${r.note}` : ''}) at ${r.at}`).join('; ') || '(none)'}`,
    `last step:     ${w.lastStep ? `${w.lastStep.eventType} at ${when(w.lastStep.at)}` : '(none)'}`,
  ].join('\n');
}

/** `sagaflow sagas list|show|history|why|resume|wait|versions|migrate|export`. */
export function sagasCommand(program: Command, ctx: CliContext, onExit: (code: number) => void): void {
  const sagas = program.command('sagas').description('inspect saga instances');

  sagas
    .command('list')
    .description('list instances, newest first')
    .option('--saga <name>', 'only this saga')
    .option('--status <status>', `one of ${statusList.join(', ')}`)
    .option('--definition <version>', 'only instances running on this saga version (counts per version: sagas versions)')
    .option('--stuck [age]', 'only running/compensating instances without a step for this long (default 15m)')
    .option('--limit <n>', 'at most n (default 100)')
    .action(async (o: ListOptions, cmd: Command) => {
      const opts = globals(cmd);
      if (o.status !== undefined && !statusList.includes(o.status as SagaStatus)) {
        throw new ValidationError('--status', [{ path: '--status', message: `"${o.status}" is not one of ${statusList.join(', ')}` }]);
      }
      const stuckForMs = o.stuck === undefined ? undefined : parseDurationArg('--stuck', o.stuck === true ? '15m' : String(o.stuck));
      const limit = parseLimit('--limit', o.limit);
      const definitionVersion = parseLimit('--definition', o.definition, 1_000_000);
      const list = await withOperator(opts, ctx, (api) =>
        api.listSagas({
          ...(o.saga ? { saga: o.saga } : {}),
          ...(o.status ? { status: o.status as SagaStatus } : {}),
          ...(definitionVersion !== undefined ? { definitionVersion } : {}),
          ...(stuckForMs !== undefined ? { stuckForMs } : {}),
          ...(limit ? { limit } : {}),
        }),
      );
      if (opts.json) return void ctx.output.out(json(list));
      if (list.length === 0) return void ctx.output.out('no instances');
      ctx.output.out(table(['saga', 'key', 'status', 'state', 'version', 'definition', 'updated'], list.map((i) => [i.saga, i.key, i.status, show(i.state), i.version, `v${i.definitionVersion}`, when(i.updatedAt)]), ctx.output));
    });

  sagas
    .command('show')
    .description('state, status, context, timers, emitted events, dead letters and recent history of an instance')
    .argument('<saga>')
    .argument('<key>')
    .action(async (saga: string, key: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const d = await withOperator(opts, ctx, (api) => api.showSaga(saga, key));
      ctx.output.out(opts.json ? json(d) : details(d, ctx.output));
    });

  sagas
    .command('history')
    .description('the full timeline of an instance: event, from → to, effects, time')
    .argument('<saga>')
    .argument('<key>')
    .action(async (saga: string, key: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const h = await withOperator(opts, ctx, (api) => api.sagaHistory(saga, key));
      ctx.output.out(opts.json ? json(h) : historyTable(h, ctx.output));
    });

  sagas
    .command('why')
    .description('what an instance waits for: accepted events, timers, dead letters, time since its last step')
    .argument('<saga>')
    .argument('<key>')
    .action(async (saga: string, key: string, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const w = await withOperator(opts, ctx, (api) => api.whySaga(saga, key));
      ctx.output.out(opts.json ? json(w) : why(w));
    });

  sagas
    .command('resume')
    .description('resume a failed instance whose state allows it (compensation starts again, with a fresh attempt budget)')
    .argument('<saga>')
    .argument('<key>')
    .requiredOption('--reason <text>', 'why (kept with the resume event, shown in the history)')
    .action(async (saga: string, key: string, o: { reason: string }, cmd: Command) => {
      const opts = globals(cmd);
      const r = await withOperator(opts, ctx, (api) => api.resumeSaga(saga, key, { reason: o.reason }), { reason: o.reason });
      ctx.output.out(opts.json ? json(r) : `${saga} ${key}: resume requested (event ${r.eventId}) from state ${show(r.fromState)}; follow it with: sagaflow sagas show ${saga} ${key}`);
    });

  sagasExportCommand(sagas, ctx);
  sagaVersionCommands(sagas, ctx, onExit);
  sagasWaitCommand(sagas, ctx);
}
