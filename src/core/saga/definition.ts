import type { AnyStateMachine, ContextFrom, StateValue } from 'xstate';
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
  /**
   * zod schema of the machine's context. Optional; when given, a migrated instance's context (the result of
   * `migrateFrom`) must pass it, or the instance is not moved.
   */
  context?: z.ZodType;
  /**
   * How instances of older versions move to this one (`sagaflow sagas migrate <saga> --from n --to this`):
   * for each older version, a pure function from the stored state and context to this version's. Its
   * state must exist in this machine (and its context pass `context`, when declared). See docs/versioning.md.
   *
   * @example
   * migrateFrom: {
   *   1: ({ value, context }) => ({ value: value === 'waiting' ? 'awaitingAgent' : value, context: { ...context, escalated: false } }),
   * }
   */
  migrateFrom?: Record<number, SagaMigration<TMachine>>;
}

/** What a migration sees of a stored instance of the older version. */
export interface MigrationSnapshot {
  /** The instance key. */
  key: string;
  /** The older version's state value, e.g. `"awaitingAgent"` or `{ compensating: "releasingAgent" }`. */
  value: StateValue;
  /** The older version's context (JSON). */
  context: Record<string, unknown>;
}

/** One `migrateFrom` transform: the older instance's state and context → this version's. Must be pure. */
export type SagaMigration<TMachine extends AnyStateMachine = AnyStateMachine> = (snapshot: MigrationSnapshot) => {
  value: StateValue;
  context: ContextFrom<TMachine>;
};
