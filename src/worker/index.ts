/**
 * `sagaflow/worker`: run command handlers in a service of your own, against a daemon's HTTP API.
 * No database driver, no Redis: only `fetch`.
 */
export { createWorker, HttpWorkSource, type Worker, type WorkerOptions } from './client.js';
export { defineHandler, type HandlerConfig, type HandlerDefinition, type CommandContext, type Reply } from '../core/worker/define-handler.js';
export { WorkLeaseLostError, type WorkSource } from '../core/worker/worker-loop.js';
export type { ClaimedCommand, FailOutcome } from '../core/ports/work-queue.js';
