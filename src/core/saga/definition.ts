import type { AnyStateMachine } from 'xstate';
import type { z } from 'zod';
import type { EventEnvelope } from '../events/envelope.js';

/** What happens to an event that is not a start event and finds no instance. */
export const OnMissing = { Ignore: 'ignore', DeadLetter: 'dead-letter', Park: 'park' } as const;
export type OnMissing = (typeof OnMissing)[keyof typeof OnMissing];

/**
 * A saga as the user declares it (input of `defineSaga`).
 *
 * How a domain event is handed to the machine as an xstate event is fixed by the runtime and
 * documented in `docs/sagas.md`.
 */
export interface SagaConfig<TMachine extends AnyStateMachine = AnyStateMachine> {
  /** Unique saga name, e.g. `TaskProcessing`. */
  name: string;
  /** Definition version stored with every instance; bump when the machine changes incompatibly. */
  version: number;
  /** An xstate v5 machine built with `setup()`. Must not `invoke` on the durable path. */
  machine: TMachine;
  /** Every event type the machine handles, with the zod schema of its `data`. */
  events: Record<string, z.ZodType>;
  /** For each handled event type: the instance key the event belongs to. */
  correlate: Record<string, (event: EventEnvelope) => string>;
  /** Event types that may create an instance. */
  startedBy: string[];
  /** @default 'dead-letter' */
  onMissing?: OnMissing;
}
