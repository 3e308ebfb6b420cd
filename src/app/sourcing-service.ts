import { ErrorCode, NotFoundError, SagaflowError, UnavailableError, ValidationError } from '../core/errors.js';
import { toEnvelope } from '../core/bus/event-relay.js';
import type { LogReader } from '../core/bus/shared-log-reads.js';
import { compilePattern, isValidPattern } from '../core/events/pattern.js';
import { newId } from '../core/ids.js';
import { compareCursors } from '../core/store/event-query.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { Db, DbTransaction } from '../core/ports/db.js';
import type { EventBus } from '../core/ports/event-bus.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import type { RetentionRules } from '../core/ports/retention.js';
import type { Fence, LeaseGrant } from '../core/ports/leases.js';
import { projectionCheckpoint, type ProjectionDefinition, type ProjectionStart } from '../core/sourcing/projection.js';
import type {
  ProjectionState, RebuildProgress, ReplayEventsRequest, ReplayEventsResult, RetentionRequest, RetentionResult, SourcingApi,
} from './sourcing-api.js';

/** The projection storage the service administers (implemented by `PostgresProjections`). */
export interface ProjectionAdmin {
  readonly schema: string;
  startCursor(start: ProjectionStart, head: () => Promise<string>): Promise<string>;
  reset(lease: string, checkpoint: string, cursor: string, empty: (tx: DbTransaction) => Promise<void>, hold?: { owner: string; ttlMs: number }): Promise<LeaseGrant | undefined>;
  positions(projections: ReadonlyArray<{ lease: string; checkpoint: string }>): Promise<Array<Omit<ProjectionState, 'name' | 'handles' | 'delivery' | 'replay'>>>;
}

/** Options of {@link SourcingService}. */
export interface SourcingServiceOptions {
  projections: readonly ProjectionDefinition[];
  admin: ProjectionAdmin;
  /** The log, and its head. */
  log: LogReader & { headCursor(): Promise<string> };
  db: Db;
  /** Lease name of a projection. */
  leaseOf: (name: string) => string;
  /** Renews a lease held by this process (a rebuild run here); returns false when it was lost. */
  renew: (grant: LeaseGrant) => Promise<boolean>;
  release: (grant: LeaseGrant) => Promise<void>;
  /** Runs a projection here to the head of the log under `fence` (a rebuild in this process). */
  catchUp?: (definition: ProjectionDefinition, fence: () => Fence, onPage: () => Promise<void>) => Promise<void>;
  /** This process's identity as a lease owner. */
  owner: string;
  leaseTtlMs: number;
  /** The transport (daemon mode): where `events replay --to-bus` sends. */
  transport?: EventBus;
  retention: {
    days: number;
    mode: 'delete' | 'archive';
    /** Aggregate types whose streams keep events not covered by a snapshot. */
    aggregateTypes: () => readonly string[];
    plan(rules: RetentionRules): Promise<Omit<RetentionResult, 'mode' | 'dryRun'>>;
    run(rules: RetentionRules, mode: 'delete' | 'archive'): Promise<RetentionResult>;
  };
  clock?: Clock;
}

const REPLAY_LIMIT = 100_000;
const PAGE = 1000;
const DAY_MS = 86_400_000;

/**
 * Projections, event replay and retention for operators (the {@link SourcingApi}): served by the daemon's
 * API and by the CLI's direct mode. Driver-free: storage comes in as ports.
 */
export class SourcingService implements SourcingApi {
  private readonly byName: Map<string, ProjectionDefinition>;
  private readonly clock: Clock;

  constructor(private readonly o: SourcingServiceOptions) {
    this.byName = new Map(o.projections.map((p) => [p.name, p]));
    this.clock = o.clock ?? systemClock;
  }

  private definition(name: string): ProjectionDefinition {
    const d = this.byName.get(name);
    if (!d) throw new NotFoundError('projection', name);
    return d;
  }

  async listProjections(): Promise<ProjectionState[]> {
    const defs = [...this.byName.values()];
    const positions = await this.o.admin.positions(defs.map((d) => ({ lease: this.o.leaseOf(d.name), checkpoint: projectionCheckpoint(d.name) })));
    return defs.map((d, i) => ({ name: d.name, handles: [...d.handles], delivery: d.delivery, replay: d.replay, ...positions[i]! }));
  }

  async projectionStatus(name: string): Promise<ProjectionState> {
    const d = this.definition(name);
    const [p] = await this.o.admin.positions([{ lease: this.o.leaseOf(name), checkpoint: projectionCheckpoint(name) }]);
    return { name, handles: [...d.handles], delivery: d.delivery, replay: d.replay, ...p! };
  }

  async resetProjection(name: string): Promise<ProjectionState> {
    await this.reset(this.definition(name));
    return this.projectionStatus(name);
  }

  private async reset(d: ProjectionDefinition, hold?: { owner: string; ttlMs: number }): Promise<LeaseGrant | undefined> {
    const { admin, log } = this.o;
    const cursor = await admin.startCursor(d.start, () => log.headCursor());
    return admin.reset(this.o.leaseOf(d.name), projectionCheckpoint(d.name), cursor, async (tx) => {
      await d.setup?.({ db: tx, schema: admin.schema });
      await d.reset?.({ db: tx, schema: admin.schema });
    }, hold);
  }

  /**
   * Resets the projection and rebuilds it in this process, holding its lease (renewed after every page) so
   * no daemon runs it meanwhile; a daemon takes it over from its checkpoint when the lease is given back
   * (or expires, if this process dies).
   */
  async rebuildProjection(name: string, options: { onProgress?: (p: RebuildProgress) => void } = {}): Promise<ProjectionState> {
    const d = this.definition(name);
    const catchUp = this.o.catchUp;
    if (!catchUp) throw new UnavailableError('rebuilding a projection here needs the database: run the CLI on it (no --url)');
    const grant = (await this.reset(d, { owner: this.o.owner, ttlMs: this.o.leaseTtlMs }))!;
    const fence = (): Fence => ({ lease: grant.name, owner: this.o.owner, epoch: grant.epoch });
    try {
      const total = (await this.projectionStatus(name)).lag;
      options.onProgress?.({ lag: total, total });
      let renewedAt = this.clock.now().getTime();
      await catchUp(d, fence, async () => {
        if (this.clock.now().getTime() - renewedAt > this.o.leaseTtlMs / 3) {
          if (!(await this.o.renew(grant))) throw new SagaflowError(ErrorCode.LeaseLost, `lost the lease of projection ${name} during the rebuild; a daemon continues it from its checkpoint`);
          renewedAt = this.clock.now().getTime();
        }
        if (options.onProgress) options.onProgress({ lag: (await this.projectionStatus(name)).lag, total });
      });
    } finally {
      await this.o.release(grant);
    }
    return this.projectionStatus(name);
  }

  async replayEvents(request: ReplayEventsRequest): Promise<ReplayEventsResult> {
    const bad = (request.types ?? []).find((t) => !isValidPattern(t));
    if (bad !== undefined) throw new ValidationError('replay request', [{ path: 'types', message: `"${bad}" is not an event type or pattern` }]);
    const projection = 'projection' in request.target ? this.definition(request.target.projection) : undefined;
    if (projection && !projection.replay) {
      throw new SagaflowError(ErrorCode.InvalidState, `projection ${projection.name} does not accept replays: set replay: true in its defineProjection to opt in`);
    }
    if (!projection && !this.o.transport && !request.dryRun) {
      throw new UnavailableError('replaying to the bus needs the running daemon (its transport): start it, or pass --url');
    }
    const replayId = newId();
    const matchers = (request.types ?? []).map(compilePattern);
    const fromTime = request.from && 'time' in request.from ? Date.parse(request.from.time) : undefined;
    const toTime = request.to && 'time' in request.to ? Date.parse(request.to.time) : undefined;
    const toPosition = request.to && 'position' in request.to ? request.to.position : undefined;
    const fromPosition = request.from && 'position' in request.from ? request.from.position : undefined;
    for (const [path, t] of [['from', fromTime], ['to', toTime]] as const) {
      if (t !== undefined && Number.isNaN(t)) throw new ValidationError('replay request', [{ path, message: 'is not an ISO-8601 time or a position' }]);
    }
    const matches = (e: StoredEvent) =>
      (matchers.length === 0 || matchers.some((m) => m(e.type))) &&
      (!projection || projection.accepts(e.type)) &&
      (fromPosition === undefined || e.position >= fromPosition) && (toPosition === undefined || e.position <= toPosition) &&
      (fromTime === undefined || Date.parse(e.timestamp) >= fromTime) && (toTime === undefined || Date.parse(e.timestamp) <= toTime);
    const limit = request.limit ?? REPLAY_LIMIT;
    const mark = (e: StoredEvent) => ({ ...toEnvelope(e), metadata: { ...e.metadata, replay: replayId } });
    const byType = new Map<string, number>();
    let matched = 0;
    let first: number | undefined;
    let last: number | undefined;
    let after: string | undefined = fromPosition === undefined ? undefined : await this.o.admin.startCursor({ position: fromPosition }, () => this.o.log.headCursor());
    const head = await this.o.log.headCursor();
    while (matched < limit) {
      const page = await this.o.log.readAll({ ...(after === undefined ? {} : { after }), limit: PAGE });
      const picked = page.events.filter(matches).slice(0, limit - matched);
      if (!request.dryRun && picked.length > 0) await this.send(picked, mark, projection);
      for (const e of picked) {
        byType.set(e.type, (byType.get(e.type) ?? 0) + 1);
        first ??= e.position;
        last = e.position;
      }
      matched += picked.length;
      // Up to the head as of the start: what commits during the replay is live traffic, not replay.
      if (page.events.length < PAGE || page.next === undefined || compareCursors(page.next, head) >= 0) break;
      after = page.next;
    }
    return {
      replayId, dryRun: request.dryRun, target: projection ? `projection:${projection.name}` : 'bus', matched,
      ...(first === undefined ? {} : { firstPosition: first, lastPosition: last! }),
      byType: [...byType].map(([type, count]) => ({ type, count })).sort((a, b) => a.type.localeCompare(b.type)),
    };
  }

  private async send(events: StoredEvent[], mark: (e: StoredEvent) => ReturnType<typeof toEnvelope>, projection: ProjectionDefinition | undefined): Promise<void> {
    if (projection) {
      // Replays do not move the projection's checkpoint; each page is one transaction of its writes.
      const apply = async (db: DbTransaction | Db) => {
        for (const e of events) await projection.apply({ ...e, metadata: mark(e).metadata }, { db, schema: this.o.admin.schema, replay: true });
      };
      if (projection.delivery === 'transactional') await this.o.db.transaction(apply);
      else await apply(this.o.db);
      return;
    }
    for (const e of events) await this.o.transport!.publish(mark(e), { orderingKey: e.streamId });
  }

  async retention(request: RetentionRequest): Promise<RetentionResult> {
    const days = request.olderThanDays ?? this.o.retention.days;
    if (!Number.isInteger(days) || days < 0) throw new ValidationError('retention request', [{ path: 'olderThanDays', message: 'must be a non-negative integer' }]);
    const { mode } = this.o.retention;
    if (days === 0) {
      return { cutoff: new Date(0).toISOString(), mode, dryRun: request.dryRun, expired: 0, kept: { unread: 0, liveSaga: 0, aggregate: 0 }, removed: 0, byType: [] };
    }
    const rules = { cutoff: new Date(this.clock.now().getTime() - days * DAY_MS), aggregateTypes: this.o.retention.aggregateTypes() };
    if (request.dryRun) return { ...(await this.o.retention.plan(rules)), mode, dryRun: true };
    return { ...(await this.o.retention.run(rules, mode)), dryRun: false };
  }
}
