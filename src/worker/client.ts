import os from 'node:os';
import pino, { type Logger } from 'pino';
import { UnavailableError, ValidationError, type ValidationIssue } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { ClaimedCommand, FailOutcome } from '../core/ports/work-queue.js';
import type { HandlerDefinition } from '../core/worker/define-handler.js';
import { WorkerLoop, WorkLeaseLostError, type WorkSource } from '../core/worker/worker-loop.js';

/** Options of {@link createWorker}. */
export interface WorkerOptions {
  /** The daemon's API, e.g. `http://127.0.0.1:7070`. */
  url: string;
  /** The daemon's API token (`SAGAFLOW_API_TOKEN`, or `<dataDir>/api-token` on the embedded default). */
  token: string;
  /** The handlers this process runs (from `defineHandler`). */
  handlers: readonly HandlerDefinition[];
  /** This process's name in `sagaflow status`. @default `<host>:<pid>` */
  workerId?: string;
  /** Attempt timeout for handlers that do not set `timeoutMs`. @default 30000 */
  timeoutMs?: number;
  /** Commands in flight per handler when the handler does not set `concurrency`. @default 8 */
  concurrency?: number;
  /** How long one claim waits for a command (long-poll). @default 20000 */
  waitMs?: number;
  logger?: Logger;
}

/** A running remote worker. */
export interface Worker {
  /** Registers the handlers with the daemon and starts taking commands. */
  start(): Promise<void>;
  /** Stops taking commands; lets those in flight finish for up to `drainTimeoutMs` (the rest are retried elsewhere). */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
}

interface ErrorBody {
  code?: string;
  message?: string;
  details?: { issues?: ValidationIssue[]; what?: string };
}

const enc = encodeURIComponent;

/** {@link WorkSource} over the daemon's HTTP API (`/v1/workers/...`). */
export class HttpWorkSource implements WorkSource {
  private readonly base: string;

  constructor(private readonly options: { url: string; token: string }) {
    this.base = options.url.replace(/\/+$/, '');
  }

  private async post<T>(path: string, body: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      throw new UnavailableError(`cannot reach the sagaflow daemon at ${this.base}: ${cause}`, { cause: err });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new UnavailableError(`the daemon answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (res.ok) return json as T;
    const e = json as ErrorBody;
    const [, worker, , eventId] = path.split('/').slice(2);
    if (e.code === 'WORK_LEASE_LOST') throw new WorkLeaseLostError(decodeURIComponent(worker ?? ''), decodeURIComponent(eventId ?? ''));
    if (e.code === 'VALIDATION') throw new ValidationError(e.details?.what ?? 'request', e.details?.issues ?? [{ path: '', message: e.message ?? 'invalid' }]);
    if (res.status === 401) throw new UnavailableError(`the daemon refused the token (401): check the worker's token`);
    throw new UnavailableError(`the daemon answered ${res.status} ${e.code ?? ''}: ${e.message ?? text.slice(0, 200)}`);
  }

  async register(worker: { name: string; handles: readonly string[]; maxAttempts?: number }): Promise<void> {
    await this.post(`/v1/workers/${enc(worker.name)}/register`, { handles: worker.handles, ...(worker.maxAttempts ? { maxAttempts: worker.maxAttempts } : {}) }, 10_000);
  }

  async claim(worker: string, options: { max: number; leaseMs: number; waitMs: number; by: string }, signal: AbortSignal): Promise<ClaimedCommand[]> {
    try {
      const { commands } = await this.post<{ commands: ClaimedCommand[] }>(
        `/v1/workers/${enc(worker)}/claim`,
        { workerId: options.by, max: Math.min(options.max, 100), leaseMs: options.leaseMs, waitMs: options.waitMs },
        options.waitMs + 10_000,
        signal,
      );
      return commands;
    } catch (err) {
      if (signal.aborted) return [];
      throw err;
    }
  }

  async complete(worker: string, eventId: string, leaseToken: string, replies: readonly EventEnvelope[]): Promise<void> {
    await this.post(`/v1/workers/${enc(worker)}/commands/${enc(eventId)}/complete`, { leaseToken, replies }, 30_000);
  }

  async fail(worker: string, eventId: string, leaseToken: string, error: { message: string; code?: string }, options: { attempt: number; final?: boolean }): Promise<FailOutcome> {
    const { outcome } = await this.post<{ outcome: FailOutcome }>(
      `/v1/workers/${enc(worker)}/commands/${enc(eventId)}/fail`,
      { leaseToken, attempt: options.attempt, error: { message: error.message.slice(0, 4000), ...(error.code ? { code: error.code } : {}) }, ...(options.final ? { final: true } : {}) },
      30_000,
    );
    return outcome;
  }
}

/**
 * A worker in its own process: runs `handlers` against a daemon's HTTP API, with no Redis and no database
 * access. Each command is leased to one worker; a worker that dies (or runs past the lease) has its
 * command given to another after the lease ends. See `docs/workers.md`.
 *
 * @example
 * const worker = createWorker({ url: 'http://127.0.0.1:7070', token: process.env.SAGAFLOW_API_TOKEN!, handlers: [reserveStock] });
 * await worker.start();
 * process.on('SIGTERM', () => void worker.stop());
 */
export function createWorker(options: WorkerOptions): Worker {
  const source = new HttpWorkSource({ url: options.url, token: options.token });
  const by = options.workerId ?? `${os.hostname()}:${process.pid}`;
  const logger = options.logger ?? pino({ level: 'silent' });
  const loops = options.handlers.map((handler) => new WorkerLoop({
    source, handler, by, logger,
    defaults: { timeoutMs: options.timeoutMs ?? 30_000, ...(options.concurrency ? { concurrency: options.concurrency } : {}) },
    ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
  }));
  return {
    async start() {
      for (const loop of loops) await loop.start();
    },
    async stop({ drainTimeoutMs = 10_000 } = {}) {
      await Promise.all(loops.map((loop) => loop.stop({ drainTimeoutMs })));
    },
  };
}
