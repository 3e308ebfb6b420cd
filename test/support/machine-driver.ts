/**
 * Test support for the example sagas' machine tests: drives one instance through the runtime's own pure
 * step, `decide()`, with no store — each step round-trips the persisted snapshot through JSON (as the
 * database does), and timers fire when a fake time passes their due time. The saga test kit
 * (`sagaflow/testing`) does the same through the whole runtime; this is the smaller, synchronous view.
 */
import type { EventObject } from 'xstate';
import { createEvent } from '../../src/core/events/envelope.js';
import { decide, restoreSnapshot, type Decision } from '../../src/core/saga/decider.js';
import type { SagaDefinition } from '../../src/core/saga/define-saga.js';
import { deriveStatus } from '../../src/core/saga/status.js';

/** A domain event as a test writes it: `{ type, data }`. */
export interface DriverEvent {
  type: string;
  data?: Record<string, unknown>;
}

type Emitted = { type: string; data: Record<string, unknown> };

/** Drives one instance of a saga. */
export class MachineDriver {
  /** Current time in ms since the start. */
  now = 0;
  /** Emitted events of the last step, `{ type, data }`. */
  emitted: Emitted[] = [];
  /** Scheduled timers by id. */
  readonly timers = new Map<string, { event: EventObject; dueAt: number }>();
  private persisted: { snapshot: unknown; state: unknown } | undefined;

  constructor(
    readonly saga: SagaDefinition,
    readonly key: string,
  ) {}

  /** Starts the instance with its start event (initial state, then the event). */
  start(event: DriverEvent): this {
    this.apply(event);
    return this;
  }

  /** Applies an event. Returns false (and changes nothing) when the current state does not accept it, like the runtime. */
  send(event: DriverEvent): boolean {
    return this.apply(event);
  }

  /** Moves time, firing due timers in due order; returns the emitted events of all fired timers. */
  advance(ms: number): Emitted[] {
    const target = this.now + ms;
    const all: Emitted[] = [];
    for (let i = 0; i < 1000; i++) {
      const due = [...this.timers.entries()].filter(([, t]) => t.dueAt <= target).sort((a, b) => a[1].dueAt - b[1].dueAt)[0];
      if (!due) break;
      this.now = Math.max(this.now, due[1].dueAt);
      this.timers.delete(due[0]);
      this.apply({ type: due[1].event.type }, due[1].event);
      all.push(...this.emitted);
    }
    this.now = target;
    this.emitted = all;
    return all;
  }

  get value(): unknown {
    return this.restored().value;
  }

  get status(): string {
    return deriveStatus(this.restored());
  }

  get context(): Record<string, unknown> {
    return this.restored().context as Record<string, unknown>;
  }

  /** Types of the emitted events of the last step. */
  get emittedTypes(): string[] {
    return this.emitted.map((e) => e.type);
  }

  /** Ids of the scheduled timers, sorted. */
  get timerIds(): string[] {
    return [...this.timers.keys()].sort();
  }

  private restored() {
    if (!this.persisted) throw new Error('the instance has not started');
    return restoreSnapshot(this.saga, JSON.parse(JSON.stringify(this.persisted.snapshot)));
  }

  private apply(event: DriverEvent, timerEvent?: EventObject): boolean {
    const now = new Date(this.now);
    const envelope = createEvent({ type: event.type, streamId: this.key, data: event.data ?? {} }, now);
    const decision: Decision = decide({
      saga: this.saga, key: this.key, envelope, now,
      ...(timerEvent ? { timerEvent } : {}),
      ...(this.persisted ? { instance: this.persisted } : {}),
    });
    if (decision.kind === 'ignored') {
      this.emitted = [];
      return false;
    }
    this.emitted = decision.emitted.map((e) => ({ type: e.type, data: e.data }));
    for (const id of decision.cancelledTimers) this.timers.delete(id);
    for (const t of decision.timers) this.timers.set(t.id, { event: t.event, dueAt: Date.parse(t.dueAt) });
    this.persisted = JSON.parse(JSON.stringify({ snapshot: decision.snapshot, state: decision.state })) as { snapshot: unknown; state: unknown };
    return true;
  }
}
