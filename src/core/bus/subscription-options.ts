import { ValidationError } from '../errors.js';
import { isValidPattern } from '../events/pattern.js';
import type { BackoffOptions, SubscribeOptions } from '../ports/event-bus.js';
import { resolveBackoff, type ResolvedBackoff } from './backoff.js';

/** Bus-wide defaults for subscriptions (config: `processing.*`). */
export interface HandlerDefaults {
  /** @default 3 */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** `EVENT_PROCESSING_TIMEOUT`. @default 30000 */
  timeoutMs?: number;
  /** @default 1 */
  concurrency?: number;
}

/** Subscribe options with every default filled in. */
export interface ResolvedSubscription {
  pattern: string;
  group: string;
  handlerId: string;
  concurrency: number;
  maxAttempts: number;
  backoff: ResolvedBackoff;
  timeoutMs: number;
  /** Receives replayed events (metadata `replay`). */
  replay: boolean;
}

/** Validates the pattern and fills in defaults (subscription options override bus defaults). */
export function resolveSubscription(pattern: string, options: SubscribeOptions = {}, defaults: HandlerDefaults = {}): ResolvedSubscription {
  if (!isValidPattern(pattern)) {
    throw new ValidationError('subscription pattern', [{ path: 'pattern', message: `"${pattern}" is not a pattern; use "*", "task.*", "*.created" or an exact type` }]);
  }
  const group = options.group ?? pattern;
  const int = (v: number | undefined, d: number, min: number, path: string): number => {
    const n = v ?? d;
    if (!Number.isInteger(n) || n < min) throw new ValidationError('subscribe options', [{ path, message: `must be an integer >= ${min}, got ${String(n)}` }]);
    return n;
  };
  return {
    pattern,
    group,
    handlerId: options.handlerId ?? group,
    concurrency: int(options.concurrency, defaults.concurrency ?? 1, 1, 'concurrency'),
    maxAttempts: int(options.maxAttempts, defaults.maxAttempts ?? 3, 1, 'maxAttempts'),
    backoff: resolveBackoff({ ...defaults.backoff, ...options.backoff }),
    timeoutMs: int(options.timeoutMs, defaults.timeoutMs ?? 30_000, 1, 'timeoutMs'),
    replay: options.replay ?? false,
  };
}
