import { describe, expect, it } from 'vitest';
import { OperatorService } from '../../src/app/operator-service.js';
import { EventTypeRegistry } from '../../src/core/events/registry.js';
import type { SagaInstance, SagaQueries } from '../../src/core/ports/saga-store.js';
import type { CompensationLog } from '../../src/core/saga/compensation.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { MemoryEventStore } from '../../src/memory/event-store.js';

/** `sagas why` on an instance that follows the compensation convention (context.compensation). */
function serviceWith(instance: SagaInstance, history: Awaited<ReturnType<SagaQueries['history']>> = []): OperatorService {
  const queries: SagaQueries = {
    get: async () => instance,
    list: async () => [instance],
    history: async () => history,
    timers: async () => [],
    emitted: async () => [],
    sagaNames: async () => [instance.saga],
    versionCounts: async () => [],
    statusCounts: async () => ({ [instance.status]: 1 }),
  };
  return new OperatorService({
    mode: 'direct', database: 'pglite', schema: 'sagaflow', migrate: async () => ({ applied: [], current: 0 }) as never,
    store: new MemoryEventStore(), deadLetters: new MemoryDeadLetters(), registry: new EventTypeRegistry(), sagas: [], queries,
    publish: async () => ({}), redeliver: async () => undefined,
  });
}

const at = '2026-11-30T12:00:00.000Z';
const instanceOf = (status: SagaInstance['status'], compensation: CompensationLog): SagaInstance => ({
  saga: 'Trip', key: 'trip-1', version: 7, definitionVersion: 1, status, state: { compensating: 'undoing' },
  context: { tripId: 'trip-1', compensation }, snapshot: {}, createdAt: at, updatedAt: at,
});
const step = (name: string, reply: string, match: Record<string, string>) => ({
  step: name, command: { type: `${name}.cancel.requested`, data: {} }, reply, failure: `${name}.cancel.failed`, match,
});

describe('sagas why and the compensation convention', () => {
  it('a compensating saga says which undo it waits for, with the reply, its match, and what comes after', async () => {
    const log: CompensationLog = { steps: [step('flight', 'flight.cancelled', { bookingId: 'F-1' }), step('hotel', 'hotel.cancelled', { bookingId: 'H-9' })], attempt: 1, errors: ['hotel: no such booking'] };
    const why = await serviceWith(instanceOf('compensating', log)).whySaga('Trip', 'trip-1');
    const text = why.summary.join('\n');
    expect(text).toContain('It is undoing step "hotel" (hotel.cancel.requested sent, attempt 2): it waits for hotel.cancelled with data.bookingId = "H-9" (or hotel.cancel.failed with data.bookingId = "H-9" if the undo failed)');
    expect(text).toContain('Still to undo after it: flight.');
    expect(text).toContain('Compensation errors (newest last): hotel: no such booking.');
  });

  it('a failed saga shows its compensation errors', async () => {
    const log: CompensationLog = { steps: [step('flight', 'flight.cancelled', {})], attempt: 3, errors: ['flight: timeout', 'flight: airline down'] };
    const why = await serviceWith(instanceOf('failed', log)).whySaga('Trip', 'trip-1');
    expect(why.summary.join('\n')).toContain('Compensation errors (newest last): flight: timeout; flight: airline down.');
  });

  it('says that an ignored event may have been refused by a guard', async () => {
    const log: CompensationLog = { steps: [step('flight', 'flight.cancelled', { bookingId: 'F-1' })], attempt: 0, errors: [] };
    const why = await serviceWith(instanceOf('compensating', log), [
      { seq: 1, saga: 'Trip', key: 'trip-1', eventId: 'e1', eventType: 'flight.cancelled', fromState: 'x', toState: 'x', effects: { emitted: [], timersScheduled: [], timersCancelled: [] }, kind: 'ignored', at },
    ]).whySaga('Trip', 'trip-1');
    expect(why.summary.join('\n')).toContain('a guard refused it');
  });
});
