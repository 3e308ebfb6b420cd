/**
 * Replays one stored instance's history through a saga definition and finds the first step where the
 * definition decides differently from what was stored: the core of `sagaflow verify`.
 *
 * Every history row that reached the machine (`applied`, `ignored`, `after-completion`) is decided again with
 * the same cause and the same time (the row's decision time, ADR 0011), from the start. `decide()` is pure and
 * its ids are derived (saga, key, cause, index), so an unchanged machine reproduces the stored step exactly:
 * the same state, the same emitted events (id, type, data, stream, metadata, timestamp) and the same timers.
 * Rows that never reached the machine (dead-lettered, parked, timer-dropped, missing) are skipped.
 */
import { isDeepStrictEqual } from 'node:util';
import type { EventObject } from 'xstate';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { TimerEntry } from '../core/ports/saga-store.js';
import { decide, timerEventId, type DeciderInstance, type Decision } from '../core/saga/decider.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { timerEnvelope } from '../core/saga/timer-event.js';
import type { ExportedInstance } from './saga-export-format.js';

/** How a replayed step differs from the stored one. */
export const DivergenceKind = {
  /** Both applied the event, and reached different states. */
  State: 'state',
  /** Different emitted events (count, type, data, id, stream or metadata). */
  Emitted: 'emitted',
  /** Different timers scheduled or cancelled (id, event, due time). */
  Timers: 'timers',
  /** The stored run applied the event; the new machine does not accept it in that state. */
  NotAccepted: 'not-accepted',
  /** The stored run ignored the event; the new machine would apply it. */
  NowAccepted: 'now-accepted',
  /** The new definition throws on the event: data its schema refuses, an undeclared type, a failing guard. */
  Rejected: 'rejected',
  /** After the last step, the replayed state or context differs from the stored instance's. */
  Final: 'final',
  /** A step's cause is not in the export (removed from the log by retention): the rest cannot be replayed. */
  MissingEvent: 'missing-event',
} as const;
export type DivergenceKind = (typeof DivergenceKind)[keyof typeof DivergenceKind];

/** The first difference found in an instance's replay. */
export interface Divergence {
  kind: DivergenceKind;
  /** 1-based position of the step in the instance's history (0: after the last step). */
  step: number;
  eventId: string | null;
  eventType: string | null;
  /** What the history recorded. */
  stored: unknown;
  /** What the replay decided. */
  replayed: unknown;
  /** One line for people. */
  message: string;
}

/** The outcome of one replay. */
export interface ReplayVerdict {
  /** History rows decided again. */
  stepsReplayed: number;
  /** History rows that never reached the machine, skipped. */
  stepsSkipped: number;
  divergence?: Divergence;
  /** The replayed persisted snapshot after the last step (undefined when it diverged or never started). */
  snapshot?: unknown;
}

const MACHINE_KINDS = new Set(['applied', 'ignored', 'after-completion']);

/** A value as the database stores it (JSON: `undefined` fields dropped), so stored and replayed compare alike. */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** The fields of an emitted event a replay must reproduce (the log assigns `version`). */
function comparable(e: EventEnvelope) {
  return { id: e.id, type: e.type, streamId: e.streamId, aggregateType: e.aggregateType, data: plain(e.data), metadata: plain(e.metadata), timestamp: e.timestamp };
}

function firstEmittedDifference(stored: EventEnvelope[], replayed: EventEnvelope[]): string | undefined {
  if (stored.length !== replayed.length) {
    return `emitted ${replayed.length} event(s) [${replayed.map((e) => e.type).join(', ')}], stored ${stored.length} [${stored.map((e) => e.type).join(', ')}]`;
  }
  for (const [i, s] of stored.entries()) {
    const a = comparable(s);
    const b = comparable(replayed[i]!);
    for (const field of Object.keys(a) as Array<keyof typeof a>) {
      if (!isDeepStrictEqual(a[field], b[field])) {
        return `emitted event #${i + 1} (${s.type}) differs in ${field}: stored ${JSON.stringify(a[field])}, replayed ${JSON.stringify(b[field])}`;
      }
    }
  }
  return undefined;
}

const sortTimers = (list: Array<{ id: string; event: string; dueAt: string }>) => [...list].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

/** The stored time of a step: its decision time (the emitted events carry it exactly, else the history row). */
function stepTime(row: ExportedInstance['history'][number], emitted: EventEnvelope[]): Date {
  return new Date(emitted[0]?.timestamp ?? row.at);
}

/** The cause of a history row: the logged event, or a fired timer rebuilt from what the replay scheduled. */
function causeOf(
  saga: SagaDefinition,
  key: string,
  row: ExportedInstance['history'][number],
  events: Map<string, EventEnvelope>,
  pending: Map<string, TimerEntry>,
): { envelope: EventEnvelope; timerEvent?: EventObject } | undefined {
  const logged = events.get(row.eventId);
  if (logged) return { envelope: logged };
  for (const t of pending.values()) {
    if (timerEventId(saga.name, key, t.id, t.dueAt) === row.eventId) return { envelope: timerEnvelope(t), timerEvent: t.event };
  }
  return undefined;
}

/**
 * Replays `instance`'s history through `saga` from the start and returns the first divergence, if any.
 *
 * @example
 * const verdict = replayInstance(TaskProcessingV2, exported);
 * if (verdict.divergence) logger.warn(verdict.divergence.message);
 */
export function replayInstance(saga: SagaDefinition, instance: ExportedInstance): ReplayVerdict {
  const events = new Map(instance.events.map((e) => [e.id, e]));
  const emittedById = new Map(instance.emitted.map((e) => [e.id, e]));
  const pending = new Map<string, TimerEntry>();
  let current: DeciderInstance | undefined;
  let replayed = 0;
  let skipped = 0;
  for (const [index, row] of instance.history.entries()) {
    const step = index + 1;
    const at = { step, eventId: row.eventId, eventType: row.eventType };
    const diverged = (kind: DivergenceKind, stored: unknown, replay: unknown, message: string): ReplayVerdict => ({
      stepsReplayed: replayed, stepsSkipped: skipped, divergence: { kind, ...at, stored, replayed: replay, message: `step ${step} (${row.eventType}): ${message}` },
    });
    if (!MACHINE_KINDS.has(row.kind)) {
      skipped++;
      continue;
    }
    const storedEmitted = row.effects.emitted.map((e) => emittedById.get(e.id)).filter((e): e is EventEnvelope => e !== undefined);
    const cause = causeOf(saga, instance.key, row, events, pending);
    if (!cause) {
      const scheduledBefore = instance.history.slice(0, index).some((h) => h.effects.timersScheduled.some((t) => timerEventId(saga.name, instance.key, t.id, t.dueAt) === row.eventId));
      return scheduledBefore
        ? diverged(DivergenceKind.Timers, row.eventType, null, `the stored run fired a timer (${row.eventType}) that the replay never scheduled`)
        : diverged(DivergenceKind.MissingEvent, row.eventId, null, `event ${row.eventId} is not in the export (removed from the log?), so the instance cannot be replayed from here`);
    }
    replayed++;
    let decision: Decision;
    try {
      decision = decide({
        saga, key: instance.key, envelope: cause.envelope, ...(cause.timerEvent ? { timerEvent: cause.timerEvent } : {}),
        ...(current ? { instance: current } : {}), now: stepTime(row, storedEmitted),
      });
    } catch (err) {
      return diverged(DivergenceKind.Rejected, row.kind, (err as Error).message, `the new definition rejects the event: ${(err as Error).message}`);
    }
    // A fired timer is gone (the step claimed its row).
    if (cause.timerEvent) pending.delete(String((cause.envelope.data as { timerId?: unknown }).timerId));
    if (decision.kind === 'ignored') {
      if (row.kind === 'applied') {
        return diverged(DivergenceKind.NotAccepted, row.toState, decision.state, `the new machine does not accept ${row.eventType} in state ${JSON.stringify(decision.state)} (stored: applied, to ${JSON.stringify(row.toState)})`);
      }
      continue;
    }
    if (row.kind !== 'applied') {
      return diverged(DivergenceKind.NowAccepted, row.kind, decision.state, `the stored run did not apply ${row.eventType} (${row.kind}); the new machine applies it, to ${JSON.stringify(decision.state)}`);
    }
    if (!isDeepStrictEqual(plain(decision.state), row.toState)) {
      return diverged(DivergenceKind.State, row.toState, decision.state, `state ${JSON.stringify(decision.state)}, stored ${JSON.stringify(row.toState)}`);
    }
    // Emitted events removed from the log (retention keeps only what running instances applied): compared by the
    // ids and types the history row holds — the ids are derived from saga, key, cause and index.
    const emittedDiff =
      storedEmitted.length === row.effects.emitted.length
        ? firstEmittedDifference(storedEmitted, decision.emitted)
        : isDeepStrictEqual(row.effects.emitted, decision.effects.emitted)
          ? undefined
          : `emitted [${decision.effects.emitted.map((e) => `${e.type} ${e.id}`).join(', ')}], stored [${row.effects.emitted.map((e) => `${e.type} ${e.id}`).join(', ')}] (compared by id and type: the stored events are no longer in the log)`;
    if (emittedDiff) return diverged(DivergenceKind.Emitted, storedEmitted.map(comparable), decision.emitted.map(comparable), emittedDiff);
    const storedTimers = { scheduled: sortTimers(row.effects.timersScheduled), cancelled: [...row.effects.timersCancelled].sort() };
    const replayTimers = { scheduled: sortTimers(decision.effects.timersScheduled), cancelled: [...decision.effects.timersCancelled].sort() };
    if (!isDeepStrictEqual(storedTimers, replayTimers)) {
      const show = (t: typeof storedTimers) => `scheduled [${t.scheduled.map((x) => `${x.id} @ ${x.dueAt}`).join(', ')}], cancelled [${t.cancelled.join(', ')}]`;
      return diverged(DivergenceKind.Timers, storedTimers, replayTimers, `timers ${show(replayTimers)}; stored ${show(storedTimers)}`);
    }
    for (const id of decision.cancelledTimers) pending.delete(id);
    for (const t of decision.timers) pending.set(t.id, t);
    current = { snapshot: decision.snapshot, state: decision.state };
  }
  const end = { step: 0, eventId: null, eventType: null };
  if (current && !isDeepStrictEqual(plain(current.state), instance.state)) {
    return {
      stepsReplayed: replayed, stepsSkipped: skipped,
      divergence: { kind: DivergenceKind.Final, ...end, stored: instance.state, replayed: current.state, message: `after the last step: state ${JSON.stringify(current.state)}, stored ${JSON.stringify(instance.state)}` },
    };
  }
  const context = current ? plain((current.snapshot as { context?: unknown }).context ?? {}) : undefined;
  if (current && !isDeepStrictEqual(context, instance.context)) {
    const fields = [...new Set([...Object.keys(instance.context), ...Object.keys(context as object)])].filter(
      (f) => !isDeepStrictEqual(instance.context[f], (context as Record<string, unknown>)[f]),
    );
    return {
      stepsReplayed: replayed, stepsSkipped: skipped,
      divergence: { kind: DivergenceKind.Final, ...end, stored: instance.context, replayed: context, message: `after the last step: context differs in ${fields.join(', ')}` },
    };
  }
  return { stepsReplayed: replayed, stepsSkipped: skipped, ...(current ? { snapshot: current.snapshot } : {}) };
}
