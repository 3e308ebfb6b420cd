import { ErrorCode, SagaflowError } from '../errors.js';

/** A handler attempt ran past its `timeoutMs`; its signal was aborted and the attempt counts as failed (retryable). */
export class HandlerTimeoutError extends SagaflowError {
  constructor(handlerId: string, eventId: string, timeoutMs: number) {
    super(ErrorCode.HandlerTimeout, `handler "${handlerId}" did not finish event ${eventId} within ${timeoutMs} ms (EVENT_PROCESSING_TIMEOUT)`, {
      retryable: true,
      details: { handlerId, eventId, timeoutMs },
    });
  }
}

/** The bus is stopped (or stopping) and takes no new work. */
export class BusStoppedError extends SagaflowError {
  constructor(what: string) {
    super(ErrorCode.Stopped, `${what}: the event bus is stopped; call start() first`, { retryable: true });
  }
}
