import { ValidationError } from '../core/errors.js';
import { unstorableIssues } from '../core/events/storable.js';
import { DURATION_HINT, parseDuration } from '../config/duration.js';
import { readTextCapped } from '../config/read-capped.js';

/** The largest `--data @file` read: 4 MiB (an event is at most 256 KiB by default). */
export const MAX_DATA_FILE_BYTES = 4 * 1024 * 1024;

/** Parses `--data '<json>'` or `--data @file.json` into an object; names the flag on failure. */
export function parseJsonObjectArg(flag: string, value: string, cwd: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith('@')) {
    const file = value.slice(1);
    try {
      text = readTextCapped(file === '-' ? 0 : new URL(file, `file://${cwd}/`), MAX_DATA_FILE_BYTES);
    } catch (err) {
      throw new ValidationError(`${flag} file`, [{ path: file, message: `cannot read: ${(err as Error).message}` }]);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${flag} JSON`, [{ path: '', message: (err as Error).message }]);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError(`${flag} JSON`, [{ path: '', message: `must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed}` }]);
  }
  // What no store can hold (NUL, unpaired surrogates, non-finite numbers, hostile nesting): refused here,
  // before any database work, naming the path under the flag.
  const unstorable = unstorableIssues(parsed);
  if (unstorable.length > 0) throw new ValidationError(`${flag} JSON`, unstorable.map((i) => ({ ...i, path: i.path || '(root)' })));
  return parsed as Record<string, unknown>;
}

/** Parses `--limit`. */
export function parseLimit(flag: string, value: string | undefined, max = 10_000): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new ValidationError(flag, [{ path: flag, message: `"${value}" is not an integer from 1 to ${max}` }]);
  }
  return Number(value);
}

/** Parses a duration flag such as `--older-than 15m`. */
export function parseDurationArg(flag: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new ValidationError(flag, [{ path: flag, message: `"${value}" is not ${DURATION_HINT}` }]);
  return ms;
}

/** Parses a `--from` / `--to` bound: digits are a log position, anything else an ISO-8601 time. */
export function parseLogBound(flag: string, value: string): { position: number } | { time: string } {
  if (/^\d+$/.test(value)) return { position: Number(value) };
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new ValidationError(flag, [{ path: flag, message: `"${value}" is neither a position (digits) nor an ISO-8601 time such as 2026-12-01T00:00:00Z` }]);
  return { time: new Date(t).toISOString() };
}
