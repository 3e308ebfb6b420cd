import { ConcurrencyError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { Clock } from '../core/ports/clock.js';
import { systemClock } from '../core/ports/clock.js';
import type { DeadLetters, NewDeadLetter } from '../core/ports/dead-letters.js';
import type { SagaBatchTx, SagaRepository, SagaStepRead, SagaStepTx, SagaStepWrite } from '../core/ports/saga-repository.js';
import type { SagaHistoryEntry, SagaInstance, SagaListFilter, SagaStatus, SagaVersionCount, TimerEntry } from '../core/ports/saga-store.js';
import { MemoryDeadLetters } from './dead-letters.js';
import { MemoryEventStore } from './event-store.js';

const json = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const k = (saga: string, key: string) => `${saga}\u0000${key}`;

interface Staged {
  writes: SagaStepWrite[];
  claimed: Array<{ saga: string; key: string; id: string }>;
}

/**
 * Saga storage in memory: the reference implementation and the test kit's backend. Steps run one at a time
 * (a promise-chain lock) and stage their writes, applied only when the step's function resolves, so a
 * throwing step leaves nothing behind. Values pass through JSON as they would through Postgres `jsonb`.
 */
export class MemorySagaRepository implements SagaRepository {
  readonly deadLetters: DeadLetters;
  private readonly clock: Clock;
  private readonly instances = new Map<string, SagaInstance>();
  private readonly inbox = new Set<string>();
  private readonly historyRows: SagaHistoryEntry[] = [];
  private readonly timerRows = new Map<string, TimerEntry>();
  private readonly parkedRows = new Map<string, EventEnvelope[]>();
  private lock: Promise<unknown> = Promise.resolve();
  private seq = 0;
  /** The event log emitted events are appended to (with the step's other writes). */
  readonly store: MemoryEventStore;

  constructor(options: { deadLetters?: DeadLetters; clock?: Clock; store?: MemoryEventStore } = {}) {
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetters();
    this.clock = options.clock ?? systemClock;
    this.store = options.store ?? new MemoryEventStore({ clock: this.clock });
  }

  step<T>(fn: (tx: SagaStepTx) => Promise<T>): Promise<T> {
    return this.locked(fn);
  }

  private locked<T>(fn: (tx: SagaStepTx) => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      const staged: Staged = { writes: [], claimed: [] };
      const result = await fn(this.txFor(staged));
      await this.apply(staged);
      return result;
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Several steps under the lock, applied together when `fn` resolves (nothing when it throws). */
  stepBatch<T>(fn: (tx: SagaBatchTx) => Promise<T>): Promise<T> {
    return this.locked((step) => fn({ preload: async () => undefined, step }));
  }

  /** The instance as this transaction sees it: its own latest staged write, else the committed row. */
  private current(staged: Staged, saga: string, key: string): SagaInstance | undefined {
    const id = k(saga, key);
    const prev = this.instances.get(id);
    const w = staged.writes.findLast((x) => x.instance && k(x.saga, x.key) === id);
    if (!w?.instance) return prev;
    const at = this.clock.now().toISOString();
    const i = w.instance;
    return {
      saga, key, version: i.expectedVersion + 1, definitionVersion: i.definitionVersion, status: i.status, state: i.state,
      context: i.context, snapshot: i.snapshot, createdAt: prev?.createdAt ?? at, updatedAt: at,
    };
  }

  private seen(staged: Staged, saga: string, key: string, eventId: string): boolean {
    const id = k(saga, key);
    return this.inbox.has(`${id}\u0000${eventId}`) || staged.writes.some((w) => w.inbox !== false && k(w.saga, w.key) === id && w.event.id === eventId);
  }

  private txFor(staged: Staged): SagaStepTx {
    return {
      read: async (saga, key, eventId): Promise<SagaStepRead> => ({
        instance: json(this.current(staged, saga, key)),
        seen: this.seen(staged, saga, key, eventId),
      }),
      claimTimer: async (timer) => {
        const t = this.timerRows.get(`${k(timer.saga, timer.key)}\u0000${timer.id}`);
        if (!t || t.dueAt !== timer.dueAt) return false;
        staged.claimed.push({ saga: timer.saga, key: timer.key, id: timer.id });
        return true;
      },
      write: async (w) => {
        // Checked here as Postgres would at statement time; the lock means nobody can interleave.
        const id = k(w.saga, w.key);
        if (w.inbox !== false && this.seen(staged, w.saga, w.key, w.event.id)) throw new ConcurrencyError(`saga:${id}`, 0, 0);
        if (w.instance) {
          const cur = this.current(staged, w.saga, w.key);
          if (w.instance.create ? cur !== undefined : cur?.version !== w.instance.expectedVersion) {
            throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, w.instance.expectedVersion, cur?.version ?? 0);
          }
        }
        // Emitted events are checked before the write is staged, as the Postgres repository does.
        for (const e of w.emitted ?? []) this.store.validate(e.streamId, [e]);
        staged.writes.push(json(w));
      },
    };
  }

  private async apply(staged: Staged): Promise<void> {
    const at = this.clock.now().toISOString();
    const letters: NewDeadLetter[] = [];
    for (const c of staged.claimed) this.timerRows.delete(`${k(c.saga, c.key)}\u0000${c.id}`);
    for (const w of staged.writes) {
      const id = k(w.saga, w.key);
      if (w.inbox !== false) this.inbox.add(`${id}\u0000${w.event.id}`);
      if (w.instance) {
        const prev = this.instances.get(id);
        this.instances.set(id, {
          saga: w.saga,
          key: w.key,
          version: w.instance.expectedVersion + 1,
          definitionVersion: w.instance.definitionVersion,
          status: w.instance.status,
          state: w.instance.state,
          context: w.instance.context,
          snapshot: w.instance.snapshot,
          createdAt: prev?.createdAt ?? at,
          updatedAt: at,
        });
      }
      if (w.history) {
        const h: SagaHistoryEntry = { seq: ++this.seq, saga: w.saga, key: w.key, eventId: w.event.id, eventType: w.event.type, ...w.history, at: w.history.at ?? at };
        this.historyRows.push(h);
      }
      for (const e of w.emitted ?? []) await this.store.append(e.streamId, [e]);
      for (const t of w.cancelledTimers ?? []) this.timerRows.delete(`${id}\u0000${t}`);
      for (const t of w.timers ?? []) this.timerRows.set(`${id}\u0000${t.id}`, t);
      if (w.deadLetter) letters.push(w.deadLetter);
      const parked = this.parkedRows.get(id) ?? [];
      if (w.park && !parked.some((e) => e.id === w.event.id)) parked.push(w.event);
      if (w.unpark) {
        const i = parked.findIndex((e) => e.id === w.event.id);
        if (i >= 0) parked.splice(i, 1);
      }
      if (parked.length > 0) this.parkedRows.set(id, parked);
      else this.parkedRows.delete(id);
    }
    for (const l of letters) await this.deadLetters.add(l);
  }

  async dueTimers(now: Date, limit: number, sagas?: readonly string[]): Promise<TimerEntry[]> {
    const t = now.toISOString();
    return json(
      [...this.timerRows.values()]
        .filter((r) => r.dueAt <= t && (!sagas || sagas.includes(r.saga)))
        .sort((a, b) => a.dueAt.localeCompare(b.dueAt))
        .slice(0, limit),
    );
  }

  async parked(saga: string, key: string): Promise<EventEnvelope[]> {
    return json(this.parkedRows.get(k(saga, key)) ?? []);
  }

  async statusCounts(saga?: string): Promise<Partial<Record<SagaStatus, number>>> {
    const counts: Partial<Record<SagaStatus, number>> = {};
    for (const i of this.instances.values()) if (!saga || i.saga === saga) counts[i.status] = (counts[i.status] ?? 0) + 1;
    return counts;
  }

  async sagaNames(): Promise<string[]> {
    return [...new Set([...this.instances.values()].map((i) => i.saga))].sort();
  }

  async list(filter: SagaListFilter = {}): Promise<SagaInstance[]> {
    const cutoff = filter.stuckForMs === undefined ? undefined : new Date(this.clock.now().getTime() - filter.stuckForMs).toISOString();
    return json(
      [...this.instances.values()]
        .filter(
          (i) =>
            (!filter.saga || i.saga === filter.saga) &&
            (!filter.status || i.status === filter.status) &&
            (filter.definitionVersion === undefined || i.definitionVersion === filter.definitionVersion) &&
            (cutoff === undefined || ((i.status === 'running' || i.status === 'compensating') && i.updatedAt < cutoff)),
        )
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.key.localeCompare(b.key))
        .slice(0, Math.min(filter.limit ?? 100, 10_000)),
    );
  }

  async versionCounts(saga?: string): Promise<SagaVersionCount[]> {
    const counts = new Map<string, SagaVersionCount>();
    for (const i of this.instances.values()) {
      if (saga !== undefined && i.saga !== saga) continue;
      const id = JSON.stringify([i.saga, i.definitionVersion, i.status]);
      const c = counts.get(id) ?? { saga: i.saga, definitionVersion: i.definitionVersion, status: i.status, instances: 0 };
      c.instances++;
      counts.set(id, c);
    }
    return [...counts.values()].sort((a, b) => a.saga.localeCompare(b.saga) || a.definitionVersion - b.definitionVersion || a.status.localeCompare(b.status));
  }

  async get(saga: string, key: string): Promise<SagaInstance | undefined> {
    return json(this.instances.get(k(saga, key)));
  }

  async history(saga: string, key: string, options: { limit?: number } = {}): Promise<SagaHistoryEntry[]> {
    return json(this.historyRows.filter((h) => h.saga === saga && h.key === key).slice(0, Math.min(options.limit ?? 1000, 10_000)));
  }

  async timers(saga: string, key: string): Promise<TimerEntry[]> {
    return json([...this.timerRows.values()].filter((t) => t.saga === saga && t.key === key).sort((a, b) => a.dueAt.localeCompare(b.dueAt)));
  }

  async emitted(saga: string, key: string, options: { limit?: number } = {}): Promise<EventEnvelope[]> {
    const events = await this.store.query({ metadata: { saga, sagaKey: key }, limit: Math.min(options.limit ?? 1000, 10_000) });
    return events.map(({ position: _p, cursor: _c, ...envelope }) => envelope);
  }
}
