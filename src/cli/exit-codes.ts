import { ErrorCode } from '../core/errors.js';
import { HttpErrorCode } from '../api/http-errors.js';

/** Exit codes of the `sagaflow` CLI (documented in docs/cli.md). */
export const ExitCode = {
  Ok: 0,
  /** Unexpected failure (a bug, or an error without a code). */
  Failure: 1,
  /** Bad input: usage, config, validation, unknown event type, payload too large. */
  BadInput: 2,
  /** Unknown saga, instance, dead letter. */
  NotFound: 3,
  /** Database, Redis or daemon unreachable; daemon unauthorised or forbidden (scope), rate limit, query timeout. */
  Unavailable: 4,
  /** Lost a race: already resolved, concurrent change. */
  Conflict: 5,
  /**
   * A check failed: `sagaflow verify` (an instance would not carry on as stored: diverged, needs a migration,
   * unknown saga), `sagaflow test-coverage --fail-under`.
   */
  VerifyFailed: 6,
  /** `sagas wait`: the timeout passed before the condition held. */
  Timeout: 7,
  /** Interrupted by a signal. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const byCode: Record<string, ExitCode> = {
  [ErrorCode.Validation]: ExitCode.BadInput,
  [ErrorCode.UnknownEventType]: ExitCode.BadInput,
  [ErrorCode.PayloadTooLarge]: ExitCode.BadInput,
  [ErrorCode.Config]: ExitCode.BadInput,
  [ErrorCode.SagaDefinition]: ExitCode.BadInput,
  [ErrorCode.NonRetryable]: ExitCode.BadInput,
  [HttpErrorCode.UnsupportedMediaType]: ExitCode.BadInput,
  [ErrorCode.NotFound]: ExitCode.NotFound,
  [HttpErrorCode.RouteNotFound]: ExitCode.NotFound,
  [ErrorCode.Unavailable]: ExitCode.Unavailable,
  [ErrorCode.BusFull]: ExitCode.Unavailable,
  [ErrorCode.Stopped]: ExitCode.Unavailable,
  [HttpErrorCode.Unauthorized]: ExitCode.Unavailable,
  [HttpErrorCode.HostNotAllowed]: ExitCode.Unavailable,
  [HttpErrorCode.Forbidden]: ExitCode.Unavailable,
  [HttpErrorCode.RateLimited]: ExitCode.Unavailable,
  [ErrorCode.QueryTimeout]: ExitCode.Unavailable,
  [ErrorCode.Concurrency]: ExitCode.Conflict,
  [ErrorCode.DuplicateEvent]: ExitCode.Conflict,
  [ErrorCode.SagaVersionMismatch]: ExitCode.Conflict,
  [ErrorCode.InvalidState]: ExitCode.Conflict,
  [ErrorCode.SagaMigrationFailed]: ExitCode.Conflict,
  [ErrorCode.WaitTimeout]: ExitCode.Timeout,
};

/** Exit code for an error (by its `code`, whether thrown locally or answered by the daemon). */
export function exitCodeOf(err: unknown): ExitCode {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? (byCode[code] ?? ExitCode.Failure) : ExitCode.Failure;
}
