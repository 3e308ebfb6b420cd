/**
 * How events cross the boundary between sagaflow and an xstate machine. This is the one place the
 * convention lives; `docs/sagas.md` teaches it.
 *
 * IN (domain event → machine): an {@link EventEnvelope} of a declared type becomes
 *   `{ type: envelope.type, data: <data as parsed by the saga's zod schema>, envelope }`,
 * so a machine reads `event.data.taskId` and, when it needs ids or metadata, `event.envelope.id`.
 * A start event is applied to the machine's initial state, which was created with
 * `input = { key, event }` (the instance key and that same mapped event).
 *
 * IN (timer → machine): a fired timer delivers the exact event the machine scheduled: `after` sends
 * xstate's own `xstate.after.<delay>.<stateId>`; `raise(evt, { id, delay })` sends `evt` unchanged.
 *
 * OUT (machine → world): `emit({ type, data, streamId?, aggregateType?, metadata? })` becomes one event
 * appended to the event log in the step's transaction, with an id derived from saga, key, cause and
 * its index in the step (see {@link emittedEventId}), `streamId` defaulting to the
 * instance key, `aggregateType` to the saga name, and metadata `correlationId` (the cause's, else
 * `<saga>:<key>`), `causationId` (the id of the event that caused the step), `saga`, `sagaKey`.
 * Fields other than those listed are not allowed: put payload under `data`.
 */
import { v5 as uuidv5 } from 'uuid';
import type { EventObject } from 'xstate';
import { ValidationError } from '../errors.js';
import { createEvent, parseEnvelope, toIssues, type EventEnvelope } from '../events/envelope.js';
import type { SagaDefinition } from './define-saga.js';

/** The xstate event a machine receives for a domain event. */
export interface SagaMachineEvent<TData = Record<string, unknown>> extends EventObject {
  type: string;
  data: TData;
  envelope: EventEnvelope;
}

/** Validates `data` with the saga's schema for the type and maps the envelope to the machine's event. */
export function toMachineEvent(saga: SagaDefinition, envelope: EventEnvelope): SagaMachineEvent {
  const schema = saga.events[envelope.type];
  if (!schema) {
    throw new ValidationError(`event for saga ${saga.name}`, [{ path: 'type', message: `"${envelope.type}" is not declared by the saga` }]);
  }
  const parsed = schema.safeParse(envelope.data);
  if (!parsed.success) throw new ValidationError(`data of ${envelope.type} for saga ${saga.name}`, toIssues(parsed.error, 'data'));
  return { type: envelope.type, data: parsed.data as Record<string, unknown>, envelope };
}

const emitKeys = new Set(['type', 'data', 'streamId', 'aggregateType', 'metadata']);

const emittedNamespace = '3b8e5f4a-2c1d-4e6f-9a7b-5d0c8e1f2a93';

/**
 * The id of the `index`-th event a step emits: derived from saga, key, cause and index, so deciding the
 * same step twice (a retry after a conflict, a redelivery after a crash) yields the same ids, and the
 * log and every consumer dedupe them.
 */
export function emittedEventId(saga: string, key: string, causeId: string, index: number): string {
  return uuidv5(`${saga}\n${key}\n${causeId}\n${index}`, emittedNamespace);
}

/** Builds the envelope of the `index`-th event a step emits. Throws {@link ValidationError} on a malformed one. */
export function toEmittedEnvelope(saga: SagaDefinition, key: string, emitted: unknown, cause: EventEnvelope, now: Date, index: number): EventEnvelope {
  const e = (emitted ?? {}) as Record<string, unknown>;
  const extra = Object.keys(e).filter((k) => !emitKeys.has(k));
  if (extra.length > 0) {
    throw new ValidationError(`event emitted by saga ${saga.name}`, extra.map((k) => ({ path: k, message: 'unknown field; put payload under data' })));
  }
  const metadata: Record<string, string> = {
    ...((e.metadata as Record<string, string> | undefined) ?? {}),
    correlationId: cause.metadata.correlationId ?? `${saga.name}:${key}`,
    causationId: cause.id,
    saga: saga.name,
    sagaKey: key,
  };
  const envelope = createEvent(
    {
      id: emittedEventId(saga.name, key, cause.id, index),
      type: String(e.type),
      data: (e.data as Record<string, unknown> | undefined) ?? {},
      streamId: typeof e.streamId === 'string' ? e.streamId : key,
      aggregateType: typeof e.aggregateType === 'string' ? e.aggregateType : saga.name,
      metadata,
    },
    now,
  );
  return parseEnvelope(envelope);
}
