import type { Clock } from '../core/ports/clock.js';

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  private t: number;

  constructor(start: Date | string | number = '2025-01-01T00:00:00.000Z') {
    this.t = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  /** Moves forward by `ms` (never backwards). */
  advance(ms: number): Date {
    if (!(ms >= 0)) throw new RangeError(`advance needs a non-negative number of ms, got ${ms}`);
    this.t += ms;
    return this.now();
  }

  /** Sets the time; earlier than now is refused (time never runs backwards in a saga). */
  set(at: Date | string | number): Date {
    const next = new Date(at).getTime();
    if (next < this.t) throw new RangeError(`cannot move the clock back from ${this.now().toISOString()} to ${new Date(next).toISOString()}`);
    this.t = next;
    return this.now();
  }
}
