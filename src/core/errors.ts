/**
 * Typed errors. Every error a caller can handle has its own class and a stable `code`;
 * messages say what was wrong, where (field path, id) and, where it helps, how to fix it.
 */

/** Stable error codes, one per case a caller can handle. */
export const ErrorCode = {
  Validation: 'VALIDATION',
  UnknownEventType: 'UNKNOWN_EVENT_TYPE',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  Concurrency: 'CONCURRENCY',
  DuplicateEvent: 'DUPLICATE_EVENT',
  NotFound: 'NOT_FOUND',
  Config: 'CONFIG',
  BusFull: 'BUS_FULL',
  NonRetryable: 'NON_RETRYABLE',
  HandlerTimeout: 'HANDLER_TIMEOUT',
  SagaDefinition: 'SAGA_DEFINITION',
  SagaVersionMismatch: 'SAGA_VERSION_MISMATCH',
  Unavailable: 'UNAVAILABLE',
  Stopped: 'STOPPED',
  AppendLockOrder: 'APPEND_LOCK_ORDER',
  LeaseLost: 'LEASE_LOST',
  /** A worker answered a command after its lease went to another worker. */
  WorkLeaseLost: 'WORK_LEASE_LOST',
  /** The operation does not fit the instance's state (resume of a saga that is not failed, or not resumable there). */
  InvalidState: 'INVALID_STATE',
  /** A saga version's `migrateFrom` transform failed for an instance (it threw, or its result does not fit the new version). */
  SagaMigrationFailed: 'SAGA_MIGRATION_FAILED',
  /** A wait (`waitFor`, `sagaflow sagas wait`) ended before its condition held. */
  WaitTimeout: 'WAIT_TIMEOUT',
  /** A query ran past its `statement_timeout` and the database cancelled it. */
  QueryTimeout: 'QUERY_TIMEOUT',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every sagaflow error. */
export class SagaflowError extends Error {
  readonly code: ErrorCode;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  /** JSON shape used by the HTTP API and `--json` CLI output. */
  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** One problem found while validating input. `path` is a dotted field path such as `data.title`. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** Input failed validation. Never retryable: the same input fails the same way. */
export class ValidationError extends SagaflowError {
  readonly issues: ValidationIssue[];
  constructor(what: string, issues: ValidationIssue[], options: { cause?: unknown } = {}) {
    const first = issues[0];
    const where = first ? ` at ${first.path || '(root)'}: ${first.message}` : '';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(ErrorCode.Validation, `invalid ${what}${where}${more}`, { ...options, details: { what, issues } });
    this.issues = issues;
  }
}

/** An event type the registry does not know, while the registry is strict. */
export class UnknownEventTypeError extends SagaflowError {
  readonly type: string;
  constructor(type: string, known: readonly string[] = []) {
    const hint = known.length > 0 ? `; known types: ${known.slice(0, 12).join(', ')}${known.length > 12 ? ', …' : ''}` : '';
    super(ErrorCode.UnknownEventType, `unknown event type "${type}"${hint}`, { details: { type } });
    this.type = type;
  }
}

/** A serialized event or request body is over the configured cap. */
export class PayloadTooLargeError extends SagaflowError {
  constructor(what: string, bytes: number, limit: number) {
    super(ErrorCode.PayloadTooLarge, `${what} is ${bytes} bytes, over the limit of ${limit} bytes`, { details: { bytes, limit } });
  }
}

/** Expected stream version: a number, `'no-stream'` (must not exist) or `'any'`. */
export type ExpectedVersion = number | 'no-stream' | 'any';

/**
 * The database aborted a transaction to resolve a conflict with another one (a deadlock, a serialization
 * failure). Nothing was written; retrying the whole transaction resolves it.
 */
export class TransactionConflictError extends SagaflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.Concurrency, `transaction aborted by a conflict, retry it: ${message}`, { ...options, retryable: true });
  }
}

/** An optimistic-concurrency check failed: somebody else wrote first. Retry after re-reading. */
export class ConcurrencyError extends SagaflowError {
  readonly streamId: string;
  readonly expected: ExpectedVersion;
  readonly actual: number;
  constructor(streamId: string, expected: ExpectedVersion, actual: number, options: { cause?: unknown } = {}) {
    super(ErrorCode.Concurrency, `stream "${streamId}" is at version ${actual}, expected ${String(expected)}`, {
      ...options,
      retryable: true,
      details: { streamId, expected, actual },
    });
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Some (not all) events of an append batch are already stored: the batch is neither new nor a retry. */
export class DuplicateEventError extends SagaflowError {
  /** `differs`: the field of the first stored event whose content differs from the retried one. */
  constructor(streamId: string, eventIds: string[], differs?: string) {
    super(
      ErrorCode.DuplicateEvent,
      differs
        ? `event ${eventIds.join(', ')} is already stored with another ${differs}: an event id names one event; use a new id for new content`
        : `events ${eventIds.join(', ')} are already stored; a retried batch must be identical`,
      { details: { streamId, eventIds, ...(differs ? { differs } : {}) } },
    );
  }
}

/** A thing looked up by id does not exist. */
export class NotFoundError extends SagaflowError {
  constructor(what: string, id: string) {
    super(ErrorCode.NotFound, `${what} "${id}" not found`, { details: { what, id } });
  }
}

/** Configuration is invalid; the message names the key, the value and what is accepted. */
export class ConfigError extends SagaflowError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.Config, message, { details });
  }
}

/** The in-memory bus buffer is full and the overflow policy is `reject`. */
export class BusFullError extends SagaflowError {
  constructor(capacity: number) {
    super(ErrorCode.BusFull, `event bus buffer is full (${capacity} events); retry later or raise EVENT_BUS_BUFFER_SIZE`, {
      retryable: true,
      details: { capacity },
    });
  }
}

/** Thrown by a handler to say: do not retry this, dead-letter it at once. */
export class NonRetryableError extends SagaflowError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(ErrorCode.NonRetryable, message, { ...options, retryable: false });
  }
}

/** A wait for a saga instance ended at its timeout before the condition held; `details.instance` is what it saw last. */
export class WaitTimeoutError extends SagaflowError {
  constructor(what: string, timeoutMs: number, details: Record<string, unknown>) {
    super(ErrorCode.WaitTimeout, `timed out after ${timeoutMs} ms waiting for ${what}`, { details: { timeoutMs, ...details } });
  }
}

/** A backing service (database, Redis) cannot be reached. */
export class UnavailableError extends SagaflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.Unavailable, message, { ...options, retryable: true });
  }
}

/** The database cancelled a query that ran past its `statement_timeout`. Nothing was changed. */
export class QueryTimeoutError extends SagaflowError {
  constructor(timeoutMs: number | undefined, options: { cause?: unknown } = {}) {
    const limit = timeoutMs === undefined ? 'its statement_timeout' : `the ${timeoutMs} ms statement timeout`;
    super(ErrorCode.QueryTimeout, `the query ran past ${limit} and was cancelled: narrow it (a smaller limit, a filter) or raise http.statement_timeout`, {
      ...options,
      retryable: true,
      details: timeoutMs === undefined ? {} : { timeoutMs },
    });
  }
}

/**
 * A write carried a lease epoch that is no longer current: another daemon took the lease (this one was
 * paused or cut off past its lease). Nothing was written; the work belongs to the new owner. Never retried.
 */
export class LeaseLostError extends SagaflowError {
  constructor(lease: string, owner: string, epoch: number) {
    super(ErrorCode.LeaseLost, `lease "${lease}" is no longer held by ${owner} at epoch ${epoch}: another daemon owns it now`, {
      details: { lease, owner, epoch },
    });
  }
}

/** True when an error should not be retried (validation, explicit non-retryable). */
export function isNonRetryable(err: unknown): boolean {
  return err instanceof SagaflowError ? !err.retryable && err.code !== ErrorCode.HandlerTimeout : false;
}

/** A saga definition is inconsistent; the message names the saga and, where it applies, the state. */
export class SagaDefinitionError extends SagaflowError {
  readonly saga: string;
  constructor(saga: string, problem: string, options: { state?: string; details?: Record<string, unknown> } = {}) {
    const where = options.state ? ` (state "${options.state}")` : '';
    super(ErrorCode.SagaDefinition, `saga "${saga}"${where}: ${problem}`, {
      details: { saga, ...(options.state ? { state: options.state } : {}), ...(options.details ?? {}) },
    });
    this.saga = saga;
  }
}

/**
 * A stored instance runs a definition version that no loaded definition of its saga has; the event is
 * dead-lettered and the instance left untouched.
 */
export class SagaVersionMismatchError extends SagaflowError {
  constructor(saga: string, key: string, stored: number, loaded: readonly number[]) {
    const newest = Math.max(...loaded);
    super(
      ErrorCode.SagaVersionMismatch,
      `saga "${saga}" instance "${key}" runs definition version ${stored}, which is not loaded (loaded: ${loaded.map((v) => `v${v}`).join(', ')}); ` +
        `either load version ${stored} beside the new one (export both defineSaga results from the sagas module), or declare ` +
        `migrateFrom: { ${stored}: (snapshot) => ... } on version ${newest} and run \`sagaflow sagas migrate ${saga} --from ${stored} --to ${newest}\`; ` +
        `then retry this dead letter (see docs/versioning.md)`,
      { details: { saga, key, stored, loaded: [...loaded] } },
    );
  }
}

/** A `migrateFrom` transform failed for one instance: it threw, or its result does not fit the target version. */
export class SagaMigrationError extends SagaflowError {
  constructor(saga: string, key: string, from: number, to: number, problem: string, options: { cause?: unknown; issues?: ValidationIssue[] } = {}) {
    super(ErrorCode.SagaMigrationFailed, `saga "${saga}" instance "${key}": migration v${from} → v${to} failed: ${problem}`, {
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
      details: { saga, key, from, to, ...(options.issues ? { issues: options.issues } : {}) },
    });
  }
}

/**
 * An aggregate refused a command: the command does not fit its state (creating a context that exists,
 * disconnecting an agent twice). Nothing was decided; retrying the same command fails the same way.
 */
export class InvariantViolationError extends SagaflowError {
  readonly aggregateType: string;
  readonly aggregateId: string;
  constructor(aggregateType: string, aggregateId: string, problem: string, details: Record<string, unknown> = {}) {
    super(ErrorCode.InvalidState, `${aggregateType} "${aggregateId}": ${problem}`, { details: { aggregateType, aggregateId, ...details } });
    this.aggregateType = aggregateType;
    this.aggregateId = aggregateId;
  }
}

/**
 * The events an aggregate needs are no longer in its stream: retention removed the events a snapshot covered,
 * and there is no snapshot this definition can start from (one of another schema version, or none). Building a
 * state from the rest would be wrong; restore the events (`events_archive`) or load with the matching schema version.
 */
export class StreamGapError extends SagaflowError {
  constructor(streamId: string, expected: number, found: number, fromSnapshot: boolean) {
    super(
      ErrorCode.InvalidState,
      `stream "${streamId}" starts at version ${found}, not ${expected}: its earlier events were removed (retention) and ${fromSnapshot ? 'the snapshot does not reach them' : 'no snapshot of this schema version covers them'}`,
      { details: { streamId, expected, found } },
    );
  }
}
