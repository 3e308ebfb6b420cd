import type { BackoffOptions } from '../ports/event-bus.js';

/** Backoff options with every default filled in. */
export type ResolvedBackoff = Required<BackoffOptions>;

/** Defaults from the design notes: 3 attempts, exponential from 100 ms, doubling, capped at 30 s, full jitter. */
export const DEFAULT_BACKOFF: ResolvedBackoff = { type: 'exponential', initialMs: 100, factor: 2, maxMs: 30_000, jitter: true };

/** Fills in defaults and clamps nonsense (negative delays, factor below 1). */
export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const b = { ...DEFAULT_BACKOFF, ...stripUndefined(options) };
  return { ...b, initialMs: Math.max(0, b.initialMs), maxMs: Math.max(0, b.maxMs), factor: Math.max(1, b.factor) };
}

/**
 * Delay before the retry that follows failed attempt `attempt` (1-based).
 * `base = min(maxMs, initialMs * factor^(attempt-1))` (fixed: `initialMs`); with jitter the delay is
 * uniform in `[0, base]` ("full jitter"): retries of many failing events spread out instead of
 * hammering a recovering dependency in lock-step.
 *
 * @param random source of `[0, 1)`; inject a fixed function in tests.
 */
export function backoffDelay(attempt: number, options: ResolvedBackoff, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  const raw = options.type === 'fixed' ? options.initialMs : options.initialMs * options.factor ** (n - 1);
  const base = Math.min(options.maxMs, raw);
  return options.jitter ? Math.floor(random() * base) : base;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
