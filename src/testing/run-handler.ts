import pino from 'pino';
import { ValidationError } from '../core/errors.js';
import { createEvent, toIssues, type EventEnvelope, type NewEvent } from '../core/events/envelope.js';
import type { HandlerDefinition } from '../core/worker/define-handler.js';
import { repliesOf, replyEnvelopes } from '../core/worker/replies.js';

/**
 * Runs a handler on one command as a worker would — the command's data checked against the handler's
 * schema (a {@link ValidationError} naming the field when it fails), `handle` called with attempt,
 * idempotency key and signal — and returns the reply envelopes it would store (ids, causation, correlation).
 *
 * @example
 * const [reply] = await runHandler(payments, { type: 'payment.requested', data: { orderId: 'o-1', amount: 20 } });
 * assert.equal(reply.type, 'payment.succeeded');
 */
export async function runHandler<TData extends Record<string, unknown>>(
  handler: HandlerDefinition<TData>,
  event: EventEnvelope | NewEvent,
  options: { attempt?: number; signal?: AbortSignal } = {},
): Promise<EventEnvelope[]> {
  const command = 'id' in event && 'timestamp' in event && typeof event.id === 'string' ? (event as EventEnvelope) : createEvent(event);
  let data = command.data as TData;
  if (handler.schema) {
    const parsed = handler.schema.safeParse(command.data);
    if (!parsed.success) throw new ValidationError(`command ${command.type} for worker ${handler.name}`, toIssues(parsed.error, 'data'));
    data = parsed.data;
  }
  const result = await handler.handle({ ...command, data }, {
    attempt: options.attempt ?? 1,
    idempotencyKey: command.id,
    signal: options.signal ?? new AbortController().signal,
    logger: pino({ level: 'silent' }),
  });
  return replyEnvelopes(handler.name, command, repliesOf(result));
}
