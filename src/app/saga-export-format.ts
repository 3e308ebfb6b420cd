/**
 * The file format of `sagaflow sagas export` (read by `sagaflow verify --from`): JSON lines, versioned.
 *
 * Line 1 is a header, `{ "format": "sagaflow.saga-export", "formatVersion": 1, "exportedAt", "sagas" }`;
 * every further line is one instance, `{ "kind": "instance", ... }` ({@link ExportedInstance}): its stored row
 * (state, context, persisted snapshot, definition version), its whole history, the events that caused its steps
 * (as stored in the log; a fired timer is not in the log and is rebuilt from the history), the events its steps
 * emitted, and its pending timers. A reader refuses a `formatVersion` it does not know.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { toIssues, type EventEnvelope } from '../core/events/envelope.js';
import type { SagaHistoryEntry, SagaInstance, TimerEntry } from '../core/ports/saga-store.js';

/** The `format` of an export's header line. */
export const EXPORT_FORMAT = 'sagaflow.saga-export';
/** The format version this code writes and reads. */
export const EXPORT_FORMAT_VERSION = 1;

/** Line 1 of an export. */
export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  formatVersion: typeof EXPORT_FORMAT_VERSION;
  exportedAt: string;
  /** The sagas the export was limited to; empty: every saga in the database. */
  sagas: string[];
}

/** One instance with everything a replay needs. */
export interface ExportedInstance extends Omit<SagaInstance, 'version'> {
  kind: 'instance';
  /** Row version (steps applied). */
  version: number;
  /** Every history row, oldest first (`seq` is the database's global order). */
  history: Array<Omit<SagaHistoryEntry, 'saga' | 'key'>>;
  /** The events named by the history's event ids that are in the log, oldest first. */
  events: EventEnvelope[];
  /** The events the instance's steps emitted, as stored in the log, oldest first. */
  emitted: EventEnvelope[];
  /** Timers still pending. */
  timers: Array<Omit<TimerEntry, 'saga' | 'key'>>;
}

const envelope = z.object({
  id: z.string(),
  type: z.string(),
  streamId: z.string(),
  aggregateType: z.string(),
  version: z.number(),
  timestamp: z.string(),
  data: z.record(z.string(), z.unknown()),
  metadata: z.record(z.string(), z.string()),
});

const effects = z.object({
  emitted: z.array(z.object({ id: z.string(), type: z.string() })),
  timersScheduled: z.array(z.object({ id: z.string(), event: z.string(), dueAt: z.string() })),
  timersCancelled: z.array(z.string()),
});

const headerSchema = z.object({
  format: z.literal(EXPORT_FORMAT),
  formatVersion: z.literal(EXPORT_FORMAT_VERSION),
  exportedAt: z.string(),
  sagas: z.array(z.string()),
});

const instanceSchema = z.object({
  kind: z.literal('instance'),
  saga: z.string().min(1),
  key: z.string().min(1),
  version: z.number().int(),
  definitionVersion: z.number().int().positive(),
  status: z.enum(['running', 'completed', 'compensating', 'compensated', 'failed', 'suspended']),
  state: z.unknown(),
  context: z.record(z.string(), z.unknown()),
  snapshot: z.unknown(),
  createdAt: z.string(),
  updatedAt: z.string(),
  history: z.array(
    z.object({
      seq: z.number(),
      eventId: z.string(),
      eventType: z.string(),
      fromState: z.unknown(),
      toState: z.unknown(),
      effects,
      kind: z.string(),
      note: z.string().optional(),
      at: z.string(),
    }),
  ),
  events: z.array(envelope),
  emitted: z.array(envelope),
  timers: z.array(z.object({ id: z.string(), event: z.looseObject({ type: z.string() }), dueAt: z.string() })),
});

/** The header line of a new export. */
export function exportHeader(sagas: readonly string[], now: Date): ExportHeader {
  return { format: EXPORT_FORMAT, formatVersion: EXPORT_FORMAT_VERSION, exportedAt: now.toISOString(), sagas: [...sagas] };
}

function parseLine<T>(text: string, schema: z.ZodType<T>, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(where, [{ path: '', message: `not JSON: ${(err as Error).message}` }]);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(where, toIssues(parsed.error));
  return parsed.data;
}

/**
 * Reads an export's lines: checks the header (format and version), then yields each instance. A bad line is a
 * {@link ValidationError} naming the source, the line number and the field.
 */
export async function* readExport(lines: AsyncIterable<string> | Iterable<string>, source = 'export'): AsyncGenerator<ExportedInstance> {
  let n = 0;
  let header = false;
  for await (const raw of lines) {
    n++;
    const text = raw.trim();
    if (text === '') continue;
    if (!header) {
      const head = JSON.parse(text.startsWith('{') ? text : '{}') as { format?: unknown; formatVersion?: unknown };
      if (head.format === EXPORT_FORMAT && head.formatVersion !== EXPORT_FORMAT_VERSION) {
        throw new ValidationError(`${source} line ${n}`, [
          { path: 'formatVersion', message: `format version ${String(head.formatVersion)} is not supported by this sagaflow (it reads version ${EXPORT_FORMAT_VERSION})` },
        ]);
      }
      parseLine(text, headerSchema, `${source} line ${n} (the header of a sagaflow saga export)`);
      header = true;
      continue;
    }
    yield parseLine(text, instanceSchema, `${source} line ${n}`) as ExportedInstance;
  }
  if (!header) throw new ValidationError(source, [{ path: '', message: 'empty: no header line (is this a file written by `sagaflow sagas export`?)' }]);
}
