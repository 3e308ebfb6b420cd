import type { DeadLetter, DeadLetterFilter } from '../core/ports/dead-letters.js';
import type { AuditEntry, AuditFilter } from '../core/ports/audit-log.js';
import type { SagaHistoryEntry, SagaInstance, SagaListFilter } from '../core/ports/saga-store.js';
import { UnavailableError } from '../core/errors.js';
import type { ErrorBody } from './http-errors.js';
import { waitFor, type WaitCondition, type WaitForOptions } from './wait-for.js';
import { REASON_HEADER } from './reason.js';
import type {
  EventsPage, EventsQueryRequest, MigrateBatchRequest, MigrateBatchResult, MigrateSummary, OperatorApi, OperatorStatus, PublishRequest, PublishResult, ReplayResult, ResumeResult,
  ReplayTarget, SagaCounts, SagaDefinitionInfo, SagaDetails, SagaVersionSummary, SagaWhy,
} from '../app/operator-api.js';
import type { ProjectionState, RebuildProgress, ReplayEventsRequest, ReplayEventsResult, RetentionRequest, RetentionResult } from '../app/sourcing-api.js';

/** An error answered by the API: carries the server's `code`, `status` and `details`. */
export class ApiRequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ApiRequestError';
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export interface ApiClientOptions {
  /** `http://127.0.0.1:7070` */
  url: string;
  token: string;
  /** Per-request timeout. @default 30000 */
  timeoutMs?: number;
  /** Why: sent as `X-Sagaflow-Reason` with every mutating call (the daemon refuses one without a reason). */
  reason?: string;
}

const enc = encodeURIComponent;

/** {@link OperatorApi} over the daemon's HTTP API (what the CLI uses while a daemon runs). */
export class ApiClient implements OperatorApi {
  private readonly base: string;

  constructor(private readonly options: ApiClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(method === 'POST' && this.options.reason !== undefined ? { [REASON_HEADER]: encodeURIComponent(this.options.reason) } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new UnavailableError(`cannot reach the sagaflow daemon at ${this.base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiRequestError(res.status, 'BAD_RESPONSE', `daemon answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (json ?? {}) as Partial<ErrorBody>;
      throw new ApiRequestError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? `daemon answered ${res.status}`, e.details ?? {});
    }
    return json as T;
  }

  private qs(entries: Array<[string, string | number | undefined]>): string {
    const p = new URLSearchParams();
    for (const [k, v] of entries) if (v !== undefined) p.append(k, String(v));
    const s = p.toString();
    return s ? `?${s}` : '';
  }

  status(): Promise<OperatorStatus> {
    return this.request('GET', '/v1/status');
  }
  migrate(): Promise<MigrateSummary> {
    return this.request('POST', '/v1/migrate');
  }
  publish(request: PublishRequest): Promise<PublishResult> {
    return this.request('POST', '/v1/events', request);
  }
  queryEvents(r: EventsQueryRequest): Promise<EventsPage> {
    const q = this.qs([...(r.types ?? []).map((t): [string, string] => ['type', t]), ['stream', r.streamId], ['after', r.after], ['limit', r.limit]]);
    return this.request('GET', `/v1/events${q}`);
  }
  async latestCursor(): Promise<string | undefined> {
    const { cursor } = await this.request<{ cursor: string | null }>('GET', '/v1/events/latest-cursor');
    return cursor ?? undefined;
  }
  listDeadLetters(f: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.request('GET', `/v1/dead-letters${this.qs([['status', f.status], ['saga', f.saga], ['handler', f.handlerId], ['limit', f.limit]])}`);
  }
  getDeadLetter(id: string): Promise<DeadLetter> {
    return this.request('GET', `/v1/dead-letters/${enc(id)}`);
  }
  retryDeadLetter(id: string): Promise<DeadLetter> {
    return this.request('POST', `/v1/dead-letters/${enc(id)}/retry`, {});
  }
  discardDeadLetter(id: string, reason: string): Promise<DeadLetter> {
    return this.request('POST', `/v1/dead-letters/${enc(id)}/discard`, { reason });
  }
  listSagas(f: SagaListFilter): Promise<SagaInstance[]> {
    const stuck = f.stuckForMs === undefined ? undefined : `${f.stuckForMs}ms`;
    return this.request('GET', `/v1/sagas${this.qs([['saga', f.saga], ['status', f.status], ['version', f.definitionVersion], ['stuck', stuck], ['limit', f.limit]])}`);
  }
  sagaVersions(saga?: string): Promise<SagaVersionSummary[]> {
    return this.request('GET', `/v1/sagas/versions${this.qs([['saga', saga]])}`);
  }
  migrateSagas(r: MigrateBatchRequest): Promise<MigrateBatchResult> {
    const { saga, ...body } = r;
    return this.request('POST', `/v1/sagas/${enc(saga)}/migrate`, body);
  }
  sagaCounts(f: { saga?: string }): Promise<SagaCounts> {
    return this.request('GET', `/v1/sagas/counts${this.qs([['saga', f.saga]])}`);
  }
  sagaDefinition(saga: string): Promise<SagaDefinitionInfo> {
    return this.request('GET', `/v1/definitions/${enc(saga)}`);
  }
  showSaga(saga: string, key: string): Promise<SagaDetails> {
    return this.request('GET', `/v1/sagas/${enc(saga)}/${enc(key)}`);
  }
  sagaHistory(saga: string, key: string): Promise<SagaHistoryEntry[]> {
    return this.request('GET', `/v1/sagas/${enc(saga)}/${enc(key)}/history`);
  }
  whySaga(saga: string, key: string): Promise<SagaWhy> {
    return this.request('GET', `/v1/sagas/${enc(saga)}/${enc(key)}/why`);
  }
  replayTargets(f: { saga?: string; olderThanMs: number; limit?: number }): Promise<ReplayTarget[]> {
    return this.request('GET', `/v1/replay/targets${this.qs([['saga', f.saga], ['olderThan', `${f.olderThanMs}ms`], ['limit', f.limit]])}`);
  }
  replay(saga: string, key: string, options: { dryRun: boolean }): Promise<ReplayResult> {
    return this.request('POST', `/v1/sagas/${enc(saga)}/${enc(key)}/replay`, { dryRun: options.dryRun });
  }
  resumeSaga(saga: string, key: string, options: { reason: string }): Promise<ResumeResult> {
    return this.request('POST', `/v1/sagas/${enc(saga)}/${enc(key)}/resume`, { reason: options.reason });
  }
  listProjections(): Promise<ProjectionState[]> {
    return this.request('GET', '/v1/projections');
  }
  projectionStatus(name: string): Promise<ProjectionState> {
    return this.request('GET', `/v1/projections/${enc(name)}`);
  }
  resetProjection(name: string): Promise<ProjectionState> {
    return this.request('POST', `/v1/projections/${enc(name)}/reset`, {});
  }
  /** Resets the projection on the daemon, then follows its lag until a daemon has caught it up. */
  async rebuildProjection(name: string, options: { onProgress?: (p: RebuildProgress) => void; timeoutMs?: number } = {}): Promise<ProjectionState> {
    let state = await this.resetProjection(name);
    const total = state.lag;
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    for (;;) {
      options.onProgress?.({ lag: state.lag, total });
      if (state.lag === 0) return state;
      if (Date.now() > deadline) throw new UnavailableError(`projection ${name} still has ${state.lag} events to read after the rebuild's timeout; it goes on in the daemon (see projections status)`);
      await new Promise((r) => setTimeout(r, 250));
      state = await this.projectionStatus(name);
    }
  }
  replayEvents(request: ReplayEventsRequest): Promise<ReplayEventsResult> {
    return this.request('POST', '/v1/events/replay', request);
  }
  retention(request: RetentionRequest): Promise<RetentionResult> {
    return this.request('POST', '/v1/retention', request);
  }
  /** Waits for an instance to reach a state, tag or status, over the daemon's WebSocket (see {@link waitFor}). */
  waitFor(saga: string, key: string, condition: WaitCondition, options?: WaitForOptions): Promise<SagaInstance> {
    return waitFor({ api: this, url: this.base, token: this.options.token }, saga, key, condition, options);
  }
  listAudit(f: AuditFilter): Promise<AuditEntry[]> {
    return this.request('GET', `/v1/audit${this.qs([['since', f.since], ['limit', f.limit]])}`);
  }
  async close(): Promise<void> {}
}
