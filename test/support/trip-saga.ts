import { assign, emit, setup } from 'xstate';
import { z } from 'zod';
import type { EventEnvelope } from '../../src/core/events/envelope.js';
import {
  compensatingState, compensationActions, compensationGuards, emptyCompensationLog, recordStep, resumableFailedState,
  type CompensationLog, type SagaCommand,
} from '../../src/core/saga/compensation.js';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import type { ResumeEvent } from '../../src/core/saga/resume.js';

/** A trip whose hotel cancellation keeps failing: it ends `failed`, and an operator resumes it. */
type Ctx = { tripId: string; compensation: CompensationLog };
type Ev =
  | { type: 'trip.booked' | 'trip.cancel' | 'hotel.cancelled' | 'hotel.cancel.failed'; data: { tripId: string; error?: string }; envelope?: EventEnvelope }
  | ResumeEvent;

const machine = setup({
  types: { context: {} as Ctx, events: {} as Ev, input: {} as { key: string }, emitted: {} as SagaCommand },
  delays: { compensationRetry: 60_000 },
  guards: { ...compensationGuards<Ctx, Ev>({ maxAttempts: 2 }) },
  actions: {
    ...compensationActions<Ctx, Ev>(),
    // A built-in, not a plain function: defineSaga rejects actions that would never run on the durable path.
    notifyFailed: emit(({ context }) => ({ type: 'trip.failed', data: { tripId: context.tripId } })),
    recordHotel: assign({
      compensation: ({ context }) => recordStep(context.compensation, {
        step: 'hotel', command: { type: 'hotel.cancel.requested', data: { tripId: context.tripId } }, reply: 'hotel.cancelled', failure: 'hotel.cancel.failed',
        match: { tripId: context.tripId },
      }),
    }),
  },
}).createMachine({
  id: 'Trip',
  context: ({ input }) => ({ tripId: input.key, compensation: emptyCompensationLog() }),
  initial: 'idle',
  states: {
    idle: { on: { 'trip.booked': { target: 'booked', actions: 'recordHotel' } } },
    booked: { on: { 'trip.cancel': 'compensating' } },
    compensating: compensatingState({ replies: ['hotel.cancelled'], failures: ['hotel.cancel.failed'], retryDelay: 'compensationRetry', done: '#Trip.compensated', failed: '#Trip.failed' }),
    compensated: { type: 'final', tags: ['compensated'] },
    failed: resumableFailedState({ compensating: '#Trip.compensating', entry: 'notifyFailed' }),
  },
});

const tripData = z.object({ tripId: z.string(), error: z.string().optional() });
/** The Trip saga: `trip.booked`, `trip.cancel`, then two `hotel.cancel.failed` leave it `failed`; a resume retries the undo. */
export const Trip = defineSaga({
  name: 'Trip',
  version: 1,
  machine,
  events: { 'trip.booked': tripData, 'trip.cancel': tripData, 'hotel.cancelled': tripData, 'hotel.cancel.failed': tripData },
  correlate: { 'trip.booked': (e) => String(e.data.tripId), 'trip.cancel': (e) => String(e.data.tripId), 'hotel.cancelled': (e) => String(e.data.tripId), 'hotel.cancel.failed': (e) => String(e.data.tripId) },
  startedBy: ['trip.booked'],
});
