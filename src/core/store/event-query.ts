import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { isValidPattern } from '../events/pattern.js';
import { toIssues } from '../events/envelope.js';
import type { EventQuery } from '../ports/event-store.js';

/** Largest page a query may ask for. */
export const MAX_QUERY_LIMIT = 10_000;

const dateLike = z.union([z.date(), z.iso.datetime({ offset: true })]);

/** Strict schema of {@link EventQuery}: unknown keys and bad values are rejected, naming the field. */
export const eventQuerySchema = z.strictObject({
  types: z.array(z.string().max(200).refine(isValidPattern, 'not a valid type pattern')).max(50).optional(),
  streamIds: z.array(z.string().min(1).max(200)).max(1000).optional(),
  aggregateType: z.string().min(1).max(200).optional(),
  from: dateLike.optional(),
  to: dateLike.optional(),
  metadata: z.record(z.string().max(200), z.string().max(4096)).optional(),
  limit: z.number().int().min(1).max(MAX_QUERY_LIMIT).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  maxBytes: z.number().int().min(1).optional(),
});

/** A validated query with defaults applied. */
export interface NormalizedQuery extends Omit<EventQuery, 'from' | 'to' | 'limit' | 'order'> {
  from?: Date;
  to?: Date;
  limit: number;
  order: 'asc' | 'desc';
}

/** Validates and normalises a query; throws {@link ValidationError} naming the field. */
export function normalizeQuery(query: unknown): NormalizedQuery {
  const parsed = eventQuerySchema.safeParse(query ?? {});
  if (!parsed.success) throw new ValidationError('event query', toIssues(parsed.error));
  const q = parsed.data;
  const result: NormalizedQuery = { limit: q.limit ?? 100, order: q.order ?? 'asc' };
  if (q.maxBytes !== undefined) result.maxBytes = q.maxBytes;
  if (q.types) result.types = q.types;
  if (q.streamIds) result.streamIds = q.streamIds;
  if (q.aggregateType) result.aggregateType = q.aggregateType;
  if (q.metadata) result.metadata = q.metadata;
  if (q.from !== undefined) result.from = new Date(q.from);
  if (q.to !== undefined) result.to = new Date(q.to);
  return result;
}

const expectedVersionSchema = z.union([z.literal('any'), z.literal('no-stream'), z.number().int().nonnegative()]);

/** Validates an `expectedVersion` option. */
export function parseExpectedVersion(value: unknown): 'any' | 'no-stream' | number {
  const parsed = expectedVersionSchema.safeParse(value ?? 'any');
  if (!parsed.success) {
    throw new ValidationError('append options', [{ path: 'expectedVersion', message: "must be 'any', 'no-stream' or a non-negative integer" }]);
  }
  return parsed.data;
}

/** Validates a stream id. */
export function parseStreamId(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw new ValidationError('stream id', [{ path: 'streamId', message: 'must be a non-empty string of at most 200 characters' }]);
  }
  return value;
}

/** Parses a `readAll` cursor `<txid>.<position>` (memory stores use txid 0). */
export function parseCursor(cursor: string): { txId: string; position: string } {
  const m = /^(\d{1,20})\.(\d{1,19})$/.exec(cursor);
  // Each part within its column's range (tx_id: xid8, unsigned 64-bit; position: bigint).
  if (!m || BigInt(m[1]!) > 18446744073709551615n || BigInt(m[2]!) > 9223372036854775807n) {
    throw new ValidationError('read cursor', [{ path: 'after', message: `"${cursor.length > 60 ? `${cursor.slice(0, 60)}…` : cursor}" is not a cursor returned by readAll` }]);
  }
  return { txId: m[1]!, position: m[2]! };
}

/** Orders two cursors as the log does (by transaction, then position): negative, zero or positive. */
export function compareCursors(a: string, b: string): number {
  const x = parseCursor(a);
  const y = parseCursor(b);
  const t = BigInt(x.txId) - BigInt(y.txId);
  if (t !== 0n) return t < 0n ? -1 : 1;
  const p = BigInt(x.position) - BigInt(y.position);
  return p === 0n ? 0 : p < 0n ? -1 : 1;
}
