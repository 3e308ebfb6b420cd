import { ErrorCode, SagaflowError } from '../core/errors.js';

/** Codes only the HTTP layer produces (beside the core's {@link ErrorCode}). */
export const HttpErrorCode = {
  Unauthorized: 'UNAUTHORIZED',
  /** The token is valid but its scope does not reach the route's. */
  Forbidden: 'FORBIDDEN',
  /** The token spent its budget of mutating calls; `Retry-After` says when to come back. */
  RateLimited: 'RATE_LIMITED',
  RouteNotFound: 'ROUTE_NOT_FOUND',
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  HostNotAllowed: 'HOST_NOT_ALLOWED',
  /** The client went away before its request body was complete (logged, never answered). */
  ClientClosed: 'CLIENT_CLOSED',
  /** The change was applied but its audit row could not be written (see the daemon log). */
  AuditFailed: 'AUDIT_FAILED',
  Internal: 'INTERNAL',
} as const;
export type HttpErrorCode = (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** JSON body of every error response. */
export interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** An error answered with a given status; the body is `{ code, message, details }`. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: HttpErrorCode, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

const statusByCode: Record<string, number> = {
  [ErrorCode.Validation]: 400,
  [ErrorCode.UnknownEventType]: 400,
  [ErrorCode.Config]: 400,
  [ErrorCode.NonRetryable]: 400,
  [ErrorCode.SagaDefinition]: 400,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Concurrency]: 409,
  [ErrorCode.DuplicateEvent]: 409,
  [ErrorCode.SagaVersionMismatch]: 409,
  [ErrorCode.InvalidState]: 409,
  [ErrorCode.SagaMigrationFailed]: 422,
  [ErrorCode.WorkLeaseLost]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.BusFull]: 503,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Stopped]: 503,
  [ErrorCode.HandlerTimeout]: 504,
  [ErrorCode.QueryTimeout]: 503,
};

/**
 * Maps any thrown value to a status and a safe body. Typed errors keep their code, message and
 * details; anything else becomes a 500 `INTERNAL` with a generic message (never a stack trace).
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof HttpError) return { status: err.status, body: { code: err.code, message: err.message, details: err.details }, internal: false };
  if (err instanceof SagaflowError) {
    const status = statusByCode[err.code] ?? 500;
    return { status, body: err.toJSON(), internal: status === 500 };
  }
  return { status: 500, body: { code: HttpErrorCode.Internal, message: 'internal error; see the daemon log', details: {} }, internal: true };
}
