import { QueryTimeoutError, TransactionConflictError, UnavailableError } from '../core/errors.js';
import { currentStatementTimeout } from '../core/ports/db.js';

/** SQLSTATE codes sagaflow reacts to. One module maps driver codes to domain errors. */
export const SqlState = {
  UniqueViolation: '23505',
  SerializationFailure: '40001',
  DeadlockDetected: '40P01',
  AdminShutdown: '57P01',
  CannotConnectNow: '57P03',
  QueryCanceled: '57014',
} as const;

interface DriverError {
  code?: string;
  constraint?: string;
  message?: string;
}

/** The SQLSTATE (or Node errno such as `ECONNREFUSED`) of a driver error, if any. */
export function sqlStateOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as DriverError).code === 'string' ? (err as DriverError).code : undefined;
}

/** True for a unique violation, optionally of one named constraint. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (sqlStateOf(err) !== SqlState.UniqueViolation) return false;
  if (constraint === undefined) return true;
  const e = err as DriverError;
  return e.constraint === constraint || (e.message ?? '').includes(constraint);
}

/** True for conflicts that a retry of the whole transaction resolves. */
export function isTransientConflict(err: unknown): boolean {
  const code = sqlStateOf(err);
  return code === SqlState.SerializationFailure || code === SqlState.DeadlockDetected;
}

const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', SqlState.AdminShutdown, SqlState.CannotConnectNow]);

/** True when the error means the database could not be reached (or went away). */
export function isConnectionError(err: unknown): boolean {
  const code = sqlStateOf(err);
  if (code && (connectionCodes.has(code) || code.startsWith('08'))) return true;
  const msg = err instanceof Error ? err.message : '';
  return /Connection terminated|connection.*(closed|refused)|not queryable|terminating connection/i.test(msg);
}

/**
 * Maps a statement cancelled by `statement_timeout` to {@link QueryTimeoutError},
 * wraps connection failures into {@link UnavailableError} and deadlocks / serialization failures into a
 * retryable {@link TransactionConflictError}; returns other errors unchanged.
 */
export function mapDriverError(err: unknown, what = 'database'): unknown {
  if (sqlStateOf(err) === SqlState.QueryCanceled && /statement timeout/i.test((err as Error).message ?? '')) {
    return new QueryTimeoutError(currentStatementTimeout(), { cause: err });
  }
  if (isTransientConflict(err)) return new TransactionConflictError((err as Error).message, { cause: err });
  if (isConnectionError(err)) {
    return new UnavailableError(`${what} is unreachable: ${(err as Error).message || sqlStateOf(err)}`, { cause: err });
  }
  return err;
}
