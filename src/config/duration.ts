/**
 * Durations as people write them in config: `30s`, `15m`, `1h`, `500ms`, `2d`, or a bare number of
 * milliseconds. One parser, used by config, the CLI (`--older-than 15m`) and the API.
 */

const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Accepted forms, for error messages. */
export const DURATION_HINT = 'a duration such as 500ms, 30s, 15m, 1h, 2d (or a number of milliseconds)';

/**
 * Parses a duration to milliseconds; `undefined` when the text is not a duration.
 *
 * @example
 * parseDuration('30s'); // 30000
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  const ms = Number(m[1]) * units[(m[2] ?? 'ms') as keyof typeof units];
  return Number.isFinite(ms) && ms <= Number.MAX_SAFE_INTEGER ? Math.round(ms) : undefined;
}

/** Formats milliseconds compactly (`1h 5m`, `42s`, `120ms`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', min ? `${min}m` : '', sec && !d ? `${sec}s` : ''].filter(Boolean);
  return parts.slice(0, 2).join(' ') || '0s';
}
