import type { EventEnvelope } from '../core/events/envelope.js';
import type { Db } from '../core/ports/db.js';
import type { SagaInstance, TimerEntry } from '../core/ports/saga-store.js';
import type { ExportedInstance } from '../app/saga-export-format.js';
import type { HistoryRow } from './transition-log.js';
import { eventColumns, toStored, type EventRow } from './event-store.js';
import { quoteSchema } from './identifiers.js';
import { isoText } from './iso-text.js';

/** Options of {@link exportSagaInstances}. */
export interface SagaExportOptions {
  /** @default 'sagaflow' */
  schema?: string;
  /** Only these sagas; all when omitted or empty. */
  sagas?: readonly string[];
  /** Instances read per round of queries. @default 200 */
  pageSize?: number;
}

/** A `saga_instances` row with its times as ISO text. */
type InstanceRow = Pick<SagaInstance, 'saga' | 'key' | 'version' | 'status' | 'state' | 'context' | 'snapshot'> & {
  definition_version: number;
  created_at: string;
  updated_at: string;
};

interface TimerRow {
  saga: string;
  key: string;
  timer_id: string;
  event: TimerEntry['event'];
  due_at: string;
}

const id = (saga: string, key: string) => `${saga}\u0000${key}`;

function group<R extends { saga: string; key: string }>(rows: readonly R[]): Map<string, R[]> {
  const out = new Map<string, R[]>();
  for (const r of rows) {
    const k = id(r.saga, r.key);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/**
 * Reads every instance of the named sagas (all when none are named) with its history, the logged events that
 * caused its steps, the events it emitted and its pending timers: the records of `sagaflow sagas export`, in
 * (saga, key) order. A page of instances costs four queries (instances, history, events by id, timers), whatever
 * its size; nothing is held beyond one page.
 */
export async function* exportSagaInstances(db: Db, options: SagaExportOptions = {}): AsyncGenerator<ExportedInstance> {
  const s = quoteSchema(options.schema ?? 'sagaflow');
  const pageSize = Math.max(1, Math.min(options.pageSize ?? 200, 5_000));
  const sagas = options.sagas && options.sagas.length > 0 ? JSON.stringify(options.sagas) : null;
  let after: { saga: string; key: string } | undefined;
  for (;;) {
    const { rows: instances } = await db.query<InstanceRow>(
      `SELECT saga, key, version, definition_version, status, state, context, snapshot,
         ${isoText('created_at')} AS created_at, ${isoText('updated_at')} AS updated_at
       FROM ${s}.saga_instances
       WHERE ($1::jsonb IS NULL OR saga IN (SELECT jsonb_array_elements_text($1::jsonb)))
         AND ($2::text IS NULL OR (saga, key) > ($2::text, $3::text))
       ORDER BY saga, key LIMIT $4`,
      [sagas, after?.saga ?? null, after?.key ?? null, pageSize],
    );
    if (instances.length === 0) return;
    const pairs = JSON.stringify(instances.map((i) => ({ saga: i.saga, key: i.key })));
    const { rows: history } = await db.query<HistoryRow & { at: string }>(
      `SELECT h.seq, h.saga, h.key, h.event_id, h.event_type, h.from_state, h.to_state, h.effects, h.kind, h.note, ${isoText('h.at')} AS at
       FROM jsonb_to_recordset($1::jsonb) AS p(saga text, key text)
       JOIN ${s}.saga_history h ON h.saga = p.saga AND h.key = p.key
       ORDER BY h.seq`,
      [pairs],
    );
    // Causes and emitted events, by their ids (the log's unique event_id index; every envelope id is a uuid).
    const ids = [...new Set(history.flatMap((h) => [h.event_id, ...h.effects.emitted.map((e) => e.id)]))];
    const { rows: events } = await db.query<EventRow>(`SELECT ${eventColumns} FROM ${s}.events WHERE event_id = ANY($1::uuid[]) ORDER BY position`, [ids]);
    const { rows: timers } = await db.query<TimerRow>(
      `SELECT t.saga, t.key, t.timer_id, t.event, ${isoText('t.due_at')} AS due_at
       FROM jsonb_to_recordset($1::jsonb) AS p(saga text, key text)
       JOIN ${s}.timers t ON t.saga = p.saga AND t.key = p.key
       ORDER BY t.due_at, t.timer_id`,
      [pairs],
    );
    const byId = new Map<string, EventEnvelope>();
    for (const row of events) {
      const { position: _p, cursor: _c, ...envelope } = toStored(row);
      byId.set(envelope.id, envelope);
    }
    const historyOf = group(history);
    const timersOf = group(timers);
    for (const i of instances) {
      const rows = historyOf.get(id(i.saga, i.key)) ?? [];
      const emittedIds = rows.flatMap((h) => h.effects.emitted.map((e) => e.id));
      yield {
        kind: 'instance',
        saga: i.saga,
        key: i.key,
        version: i.version,
        definitionVersion: i.definition_version,
        status: i.status,
        state: i.state,
        context: i.context,
        snapshot: i.snapshot,
        createdAt: i.created_at,
        updatedAt: i.updated_at,
        history: rows.map((h) => ({
          seq: Number(h.seq), eventId: h.event_id, eventType: h.event_type, fromState: h.from_state, toState: h.to_state,
          effects: h.effects, kind: h.kind, ...(h.note === null ? {} : { note: h.note }), at: h.at,
        })),
        events: [...new Set(rows.map((h) => h.event_id))].flatMap((e) => byId.get(e) ?? []),
        emitted: emittedIds.flatMap((e) => byId.get(e) ?? []),
        timers: (timersOf.get(id(i.saga, i.key)) ?? []).map((t) => ({ id: t.timer_id, event: t.event, dueAt: t.due_at })),
      };
    }
    const last = instances.at(-1)!;
    after = { saga: last.saga, key: last.key };
    if (instances.length < pageSize) return;
  }
}
