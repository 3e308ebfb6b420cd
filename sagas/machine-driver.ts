/**
 * Test support for the example sagas: drives a saga machine with xstate's pure `initialTransition` /
 * `transition`, the way the durable runtime does, without any runtime or store. Every step round-trips the
 * snapshot through JSON (as the database does) and collects emitted events and delayed raises, so timers can
 * be fired by moving a fake time. Not part of the public API.
 */
import { createActor, initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { deriveStatus } from '../src/index.js';

interface ActionLike {
  type: string;
  params?: unknown;
}

/** A domain event as the machine receives it: `{ type, data }` (the runtime also adds `envelope`). */
export interface DriverEvent extends EventObject {
  data?: Record<string, unknown>;
}

/** Drives one instance of a machine. */
export class MachineDriver {
  /** Current time in ms since the start. */
  now = 0;
  /** Emitted events of the last step, `{ type, data }`. */
  emitted: Array<{ type: string; data: Record<string, unknown> }> = [];
  /** Scheduled timers by id. */
  readonly timers = new Map<string, { event: EventObject; dueAt: number }>();
  private persisted: unknown;

  constructor(
    readonly machine: AnyStateMachine,
    readonly key: string,
  ) {}

  /** Starts the instance with its start event (initial state, then the event). */
  start(event: DriverEvent): this {
    const [initial, startActions] = initialTransition(this.machine, { key: this.key, event });
    if (initial.status === 'error') throw new Error(`machine fails to start: ${String((initial as { error?: unknown }).error)}`);
    if (!(initial as AnyMachineSnapshot).can(event)) throw new Error(`start event ${event.type} not accepted`);
    const [next, actions] = transition(this.machine, initial, event);
    this.commit(next as AnyMachineSnapshot, [...(startActions as ActionLike[]), ...(actions as ActionLike[])]);
    return this;
  }

  /** Applies an event. Returns false (and changes nothing) when the current state does not accept it, like the runtime. */
  send(event: DriverEvent): boolean {
    const current = this.snapshot();
    if (current.status === 'done' || !current.can(event)) {
      this.emitted = [];
      return false;
    }
    const [next, actions] = transition(this.machine, current, event);
    this.commit(next as AnyMachineSnapshot, actions as ActionLike[]);
    return true;
  }

  /** Moves time, firing due timers in due order; returns the emitted events of all fired timers. */
  advance(ms: number): Array<{ type: string; data: Record<string, unknown> }> {
    const target = this.now + ms;
    const all: Array<{ type: string; data: Record<string, unknown> }> = [];
    for (let i = 0; i < 1000; i++) {
      const due = [...this.timers.entries()].filter(([, t]) => t.dueAt <= target).sort((a, b) => a[1].dueAt - b[1].dueAt)[0];
      if (!due) break;
      this.now = Math.max(this.now, due[1].dueAt);
      this.timers.delete(due[0]);
      this.send(due[1].event);
      all.push(...this.emitted);
    }
    this.now = target;
    this.emitted = all;
    return all;
  }

  /** The restored snapshot (never a started actor). */
  snapshot(): AnyMachineSnapshot {
    return createActor(this.machine, { snapshot: JSON.parse(JSON.stringify(this.persisted)) as never }).getSnapshot() as AnyMachineSnapshot;
  }

  get value(): unknown {
    return this.snapshot().value;
  }

  get status(): string {
    return deriveStatus(this.snapshot());
  }

  get context(): Record<string, unknown> {
    return this.snapshot().context as Record<string, unknown>;
  }

  /** Types of the emitted events of the last step. */
  get emittedTypes(): string[] {
    return this.emitted.map((e) => e.type);
  }

  /** Ids of the scheduled timers, sorted. */
  get timerIds(): string[] {
    return [...this.timers.keys()].sort();
  }

  private commit(next: AnyMachineSnapshot, actions: readonly ActionLike[]): void {
    if (next.status === 'error') throw (next as { error?: unknown }).error;
    this.emitted = [];
    for (const a of actions) {
      const p = (a.params ?? {}) as Record<string, unknown>;
      if (a.type === 'xstate.emit') this.emitted.push(p.event as { type: string; data: Record<string, unknown> });
      else if (a.type === 'xstate.raise' && p.delay !== undefined) this.timers.set(String(p.id), { event: p.event as EventObject, dueAt: this.now + Number(p.delay) });
      else if (a.type === 'xstate.cancel') this.timers.delete(String(p.sendId));
    }
    this.persisted = JSON.parse(JSON.stringify(this.machine.getPersistedSnapshot(next)));
  }
}
