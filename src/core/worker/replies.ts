import { v5 as uuidv5 } from 'uuid';
import { ValidationError } from '../errors.js';
import { createEvent, type EventEnvelope } from '../events/envelope.js';
import type { Reply } from './define-handler.js';

const replyNamespace = 'b3c1f4e2-5a0d-4c55-9d8e-6f2a7c9e1d40';

/** The id of a worker's `index`-th reply to a command: the same on every attempt, so a reply is stored once. */
export function replyEventId(worker: string, commandId: string, index: number): string {
  return uuidv5(`${worker}\n${commandId}\n${index}`, replyNamespace);
}

/** What `handle` returned, as a list (undefined: no reply). */
export function repliesOf(result: unknown): Reply[] {
  if (result === undefined || result === null) return [];
  return (Array.isArray(result) ? result : [result]) as Reply[];
}

/**
 * The envelopes of a worker's replies to `command`: deterministic ids, the command's stream unless one is
 * given, `correlationId` and the trace context (`traceparent`, `tracestate`) carried over, `causationId` set to
 * the command's id, `worker` naming the worker.
 */
export function replyEnvelopes(worker: string, command: EventEnvelope, replies: readonly Reply[], now = new Date()): EventEnvelope[] {
  return replies.map((r, i) => {
    if (typeof r !== 'object' || r === null || typeof r.type !== 'string') {
      throw new ValidationError(`reply of worker ${worker}`, [{ path: `replies[${i}].type`, message: 'a reply is { type, data }' }]);
    }
    const extra = Object.keys(r).filter((k) => !['type', 'data', 'streamId', 'aggregateType', 'metadata'].includes(k));
    if (extra.length > 0) throw new ValidationError(`reply ${r.type} of worker ${worker}`, extra.map((k) => ({ path: k, message: 'unknown field; put payload under data' })));
    return createEvent(
      {
        id: replyEventId(worker, command.id, i),
        type: r.type,
        data: r.data,
        streamId: r.streamId ?? command.streamId,
        ...(r.aggregateType ? { aggregateType: r.aggregateType } : {}),
        metadata: {
          ...(command.metadata.correlationId ? { correlationId: command.metadata.correlationId } : {}),
          ...(command.metadata.traceparent ? { traceparent: command.metadata.traceparent } : {}),
          ...(command.metadata.tracestate ? { tracestate: command.metadata.tracestate } : {}),
          ...(r.metadata ?? {}),
          causationId: command.id,
          worker,
        },
      },
      now,
    );
  });
}
