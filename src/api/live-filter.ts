import { ValidationError } from '../core/errors.js';
import { compilePattern, isValidPattern } from '../core/events/pattern.js';
import type { LiveItem } from '../runtime/live-feed.js';

/**
 * A subscription pattern of the WebSocket bridge (docs/api.md, "WebSocket"):
 * - an event type pattern (`*`, `task.*`, `*.created`, `task.created`): events of the log of matching types;
 * - `saga:<Saga>`: every transition of that saga's instances (`saga:*`: of every saga);
 * - `saga:<Saga>:<key>`: the transitions of one instance (the key is everything after the second colon).
 */
export type LiveMatcher = (item: LiveItem) => boolean;

const SAGA_PREFIX = 'saga:';
/** The longest pattern accepted (a saga name and an instance key fit easily). */
export const MAX_PATTERN_LENGTH = 512;

/** Compiles a subscription pattern; a malformed one is a {@link ValidationError} naming it. */
export function compileLivePattern(pattern: unknown, path = 'patterns'): LiveMatcher {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) {
    throw new ValidationError('subscription', [{ path, message: `must be a string of 1-${MAX_PATTERN_LENGTH} characters` }]);
  }
  if (pattern.startsWith(SAGA_PREFIX)) {
    const rest = pattern.slice(SAGA_PREFIX.length);
    const colon = rest.indexOf(':');
    const saga = colon < 0 ? rest : rest.slice(0, colon);
    const key = colon < 0 ? undefined : rest.slice(colon + 1);
    if (!saga || (key !== undefined && key.length === 0) || (saga === '*' && key !== undefined)) {
      throw new ValidationError('subscription', [{ path, message: `"${pattern}" is not saga:<Saga>, saga:<Saga>:<key> or saga:*` }]);
    }
    return (item) => item.kind === 'transition' && (saga === '*' || item.transition.saga === saga) && (key === undefined || item.transition.key === key);
  }
  if (!isValidPattern(pattern)) {
    throw new ValidationError('subscription', [{ path, message: `"${pattern}" is not an event type pattern (segments of letters, digits, _ or -, or *) nor saga:<Saga>[:<key>]` }]);
  }
  const matches = compilePattern(pattern);
  return (item) => item.kind === 'event' && matches(item.event.type);
}

/** One message of the bridge to its clients: an event of the log, or a saga transition. */
export interface LiveMessage {
  type: 'event' | 'transition';
  /** The event's type; for a transition, the type of the event that caused it. */
  eventType: string;
  /** The event's id; for a transition, the id of the event that caused it. */
  eventId: string;
  /** Event: its data. Transition: `{ saga, key, seq, fromState, toState, kind, effects, note? }`. */
  payload: Record<string, unknown>;
  /** Event: its metadata, plus `streamId`. Transition: `{ saga, key }`. */
  metadata: Record<string, string>;
  /** Event: when it occurred. Transition: when the step committed it. ISO-8601. */
  timestamp: string;
}

/** The message a client receives for a live item. */
export function toLiveMessage(item: LiveItem): LiveMessage {
  if (item.kind === 'event') {
    const e = item.event;
    return { type: 'event', eventType: e.type, eventId: e.id, payload: e.data, metadata: { ...e.metadata, streamId: e.streamId }, timestamp: e.timestamp };
  }
  const t = item.transition;
  return {
    type: 'transition', eventType: t.eventType, eventId: t.eventId,
    payload: { saga: t.saga, key: t.key, seq: t.seq, fromState: t.fromState, toState: t.toState, kind: t.kind, effects: t.effects, ...(t.note === undefined ? {} : { note: t.note }) },
    metadata: { saga: t.saga, key: t.key },
    timestamp: t.at,
  };
}
