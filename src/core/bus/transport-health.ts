import type { Clock } from '../ports/clock.js';

/** Health of a transport: `up`, or `down` until a probe succeeds. */
export const TransportState = { Up: 'up', Down: 'down' } as const;
export type TransportState = (typeof TransportState)[keyof typeof TransportState];

/**
 * A circuit breaker: `failureThreshold` consecutive failures mark the transport down; while down,
 * one probe is allowed every `probeIntervalMs`; a success marks it up again.
 */
export class TransportHealth {
  private failures = 0;
  private _state: TransportState = TransportState.Up;
  private nextProbeAt = 0;
  /** Times the transport went down (observability, tests). */
  failovers = 0;
  /** Times it came back. */
  failbacks = 0;

  constructor(
    private readonly clock: Clock,
    private readonly failureThreshold = 3,
    private readonly probeIntervalMs = 1000,
  ) {}

  get state(): TransportState {
    return this._state;
  }

  /** True when a call should be tried: up, or down with a probe due (which it then claims). */
  shouldTry(): boolean {
    if (this._state === TransportState.Up) return true;
    const now = this.clock.now().getTime();
    if (now < this.nextProbeAt) return false;
    this.nextProbeAt = now + this.probeIntervalMs;
    return true;
  }

  success(): void {
    this.failures = 0;
    if (this._state === TransportState.Down) {
      this._state = TransportState.Up;
      this.failbacks++;
    }
  }

  failure(): void {
    this.failures++;
    if (this._state === TransportState.Up && this.failures >= this.failureThreshold) {
      this._state = TransportState.Down;
      this.failovers++;
      this.nextProbeAt = this.clock.now().getTime() + this.probeIntervalMs;
    }
  }
}
