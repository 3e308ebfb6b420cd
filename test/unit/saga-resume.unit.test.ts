import { describe, expect, it } from 'vitest';
import { OperatorService } from '../../src/app/operator-service.js';
import { createEvent } from '../../src/core/events/envelope.js';
import { EventTypeRegistry } from '../../src/core/events/registry.js';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import { MemorySagaRepository } from '../../src/memory/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { StepResult } from '../../src/runtime/saga-step.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { Trip } from '../support/trip-saga.js';

// A second saga that takes the same events and resumes: a resume names its saga, so this one never sees it.
const Other = defineSaga({ ...Trip, name: 'OtherTrip' });

describe('resuming a failed saga', () => {
  const clock = new FakeClock('2026-11-30T12:00:00.000Z');
  const repository = new MemorySagaRepository({ clock });
  const runtime = new SagaRuntime({ repository, sagas: [Trip, Other], clock, timers: false });
  const registry = new EventTypeRegistry();
  registry.registerAll(Trip.events);
  const operator = new OperatorService({
    mode: 'direct', database: 'pglite', schema: 'sagaflow', migrate: async () => ({ applied: [], current: 0 }) as never,
    store: repository.store, deadLetters: repository.deadLetters, registry, sagas: [Trip, Other], queries: repository, clock,
    publish: async (event) => {
      await repository.store.append(event.streamId, [event]);
      await runtime.handle(event);
      return {};
    },
    redeliver: async () => undefined,
  });
  const send = (type: string, tripId: string, data: Record<string, unknown> = {}) => runtime.handle(createEvent({ type, streamId: tripId, data: { tripId, ...data } }, clock.now()));

  it('defineSaga declares the resume for a saga whose machine handles it', () => {
    expect(Trip.eventTypes.has('sagaflow.resume')).toBe(true);
  });

  it('a failed instance goes back to compensating with a fresh budget, the undo is sent again, and it can finish', async () => {
    const key = `trip-${crypto.randomUUID().slice(0, 8)}`;
    await send('trip.booked', key);
    await send('trip.cancel', key);
    await send('hotel.cancel.failed', key, { error: 'hotel api down' });
    await send('hotel.cancel.failed', key, { error: 'hotel api still down' });
    expect(await repository.get('Trip', key)).toMatchObject({ status: 'failed', state: 'failed' });

    // An instance that is not failed is refused with INVALID_STATE.
    const booked = `trip-${crypto.randomUUID().slice(0, 8)}`;
    await send('trip.booked', booked);
    await expect(operator.resumeSaga('Trip', booked, { reason: 'x' })).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('is running, not failed') });

    const r = await operator.resumeSaga('Trip', key, { reason: 'hotel api is back (INC-42)' });
    expect(r).toMatchObject({ saga: 'Trip', key, fromState: 'failed' });
    const instance = await repository.get('Trip', key);
    expect(instance).toMatchObject({ status: 'compensating', state: { compensating: 'awaitingReply' }, context: { compensation: { attempt: 0 } } });
    const history = await repository.history('Trip', key);
    expect(history.at(-1)).toMatchObject({ eventType: 'sagaflow.resume', kind: 'applied', note: 'operator resume: hotel api is back (INC-42)' });
    const commands = (await repository.emitted('Trip', key)).map((e) => e.type);
    expect(commands.filter((t) => t === 'hotel.cancel.requested')).toHaveLength(3); // 2 tries + the resumed one
    // The other saga of the same key (failed the same way) was not touched: a resume names its saga.
    expect(await repository.get('OtherTrip', key)).toMatchObject({ status: 'failed' });
    expect((await repository.history('OtherTrip', key)).some((h) => h.eventType === 'sagaflow.resume')).toBe(false);

    expect((await send('hotel.cancelled', key)).find((o) => o.saga === 'Trip')!.result).toBe(StepResult.Applied);
    expect(await repository.get('Trip', key)).toMatchObject({ status: 'compensated' });
    await expect(operator.resumeSaga('Trip', key, { reason: 'again' })).rejects.toMatchObject({ code: 'INVALID_STATE', message: expect.stringContaining('is compensated, not failed') });
  });
});
