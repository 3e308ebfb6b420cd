/** Budget of mutating calls per token. */
export interface RateLimitOptions {
  /** Calls added back per minute (the sustained rate); 0 turns the limit off. */
  perMinute: number;
  /** Calls a full bucket holds (the burst allowed after a quiet spell). */
  burst: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Token buckets, one per key (the API token's name): each call takes one token; tokens come back at
 * `perMinute`, up to `burst`. A dozen lines instead of a library: the state is one number pair per configured
 * API token, in this process (each daemon counts its own calls), and the only answer needed is "wait this long".
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Takes one call from `key`'s bucket: 0 when allowed, else the seconds until one is available (for `Retry-After`). */
  take(key: string): number {
    const { perMinute, burst } = this.options;
    if (perMinute <= 0) return 0;
    const now = this.now();
    const perMs = perMinute / 60_000;
    const b = this.buckets.get(key) ?? { tokens: burst, at: now };
    b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000));
  }
}
