import os from 'node:os';
import type { Logger } from 'pino';
import pino from 'pino';
import type { SagaflowConfig } from '../config/schema.js';
import { createDurableBus, type DurableEventBus } from '../core/bus/durable-bus.js';
import { createHybridBus, type ProbedBus } from '../core/bus/hybrid-bus.js';
import { ConfigError, LeaseLostError, UnavailableError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import { EventTypeRegistry } from '../core/events/registry.js';
import type { DeadLetter } from '../core/ports/dead-letters.js';
import type { Subscription } from '../core/ports/event-bus.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { createMemoryBus } from '../memory/event-bus.js';
import type { SagaflowMetrics } from '../observability/metrics.js';
import { instrumentBus } from '../observability/instrument-bus.js';
import { PostgresCheckpoints } from '../postgres/checkpoints.js';
import { PostgresEventStore } from '../postgres/event-store.js';
import { PostgresSagaRepository } from '../postgres/saga-repository.js';
import { createRedisBus } from '../redis/redis-event-bus.js';
import { Ownership } from '../runtime/ownership.js';
import { SagaReader } from '../runtime/saga-reader.js';
import { SagaRuntime } from '../runtime/saga-runtime.js';
import { PostgresLeases } from '../postgres/leases.js';
import { LocalOperator } from './local-operator.js';
import { subscribeConfigured } from './subscriptions.js';
import type { OpenedDatabase } from './database.js';

/** Subscription group (prefix) of the saga runtime on the bus (and the checkpoint of the unpartitioned reader before 0.2). */
export const SAGA_GROUP = 'sagaflow.sagas';
/** The lease of the bus relay (store → transport): one owner across the daemons of a schema. */
export const RELAY_LEASE = 'relay:bus-relay';

/** `host:pid:random`, in the characters a lease owner and a notification payload allow. */
function defaultInstanceId(): string {
  return `${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

export interface EngineOptions {
  config: SagaflowConfig;
  database: OpenedDatabase;
  sagas: readonly SagaDefinition[];
  /** `daemon`: a bus, subscriptions, relays and timer poller. `direct`: steps run in this process on demand, no bus. */
  mode: 'daemon' | 'direct';
  /** This process's identity in leases and notifications. @default host:pid:random */
  instanceId?: string;
  logger?: Logger;
  metrics?: SagaflowMetrics;
}

/** The engine parts, wired (see {@link createEngine}). */
export interface Engine {
  readonly store: PostgresEventStore;
  readonly repository: PostgresSagaRepository;
  readonly registry: EventTypeRegistry;
  readonly runtime: SagaRuntime;
  /** The durable bus (daemon mode): `publish` appends to the store, a relay moves events to the transport. */
  readonly bus: DurableEventBus | undefined;
  readonly operator: LocalOperator;
  /** Starts the bus, the saga delivery, the outbox relay and the timer poller (daemon mode). */
  start(): Promise<void>;
  /** Each dependency this configuration uses (`database`, `redis`) and its state: `ok` or what is wrong. */
  health(): Promise<Record<string, string>>;
  /** Stops taking work and drains work in flight for up to `drainTimeoutMs`. Does not close the database. */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
}

function buildTransport(config: SagaflowConfig, parts: { repository: PostgresSagaRepository; registry: EventTypeRegistry }, logger: Logger): ProbedBus {
  const handlerDefaults = {
    maxAttempts: config.processing.retry.maxAttempts,
    timeoutMs: config.processing.timeoutMs,
    backoff: { type: config.processing.retry.backoff, initialMs: config.processing.retry.initialMs, maxMs: config.processing.retry.maxMs },
  };
  const memory = () =>
    createMemoryBus({
      bufferSize: config.bus.bufferSize, overflow: config.bus.overflow, workers: config.bus.workers, handlerDefaults,
      deadLetters: parts.repository.deadLetters, logger: logger.child({ component: 'bus' }),
    });
  const redis = () =>
    createRedisBus({
      url: config.redis.url!, prefix: config.redis.channelPrefix, workers: config.bus.workers, readCount: config.processing.batchSize,
      handlerDefaults, deadLetters: parts.repository.deadLetters, registry: parts.registry, logger: logger.child({ component: 'bus' }),
    });
  if (config.bus.type === 'memory') return memory();
  if (config.bus.type === 'redis') return redis();
  if (config.bus.type === 'hybrid') return createHybridBus({ primary: redis(), fallback: memory(), logger: logger.child({ component: 'bus' }) });
  throw new UnavailableError(`EVENT_BUS_TYPE=${String(config.bus.type)} is not available`);
}

/**
 * Wires store → registry → saga repository → durable bus → saga runtime → operator, on an open
 * database. The composition root (`startDaemon`) and the CLI's direct mode both build on this.
 *
 * How events flow in the daemon: every publish (API, CLI, handler) is appended to the event log, and
 * every event a saga step emits is appended in that step's transaction — the log is the outbox. Two
 * followers read the log gap-free from checkpoints saved after delivery, woken at once by local commits
 * and by other daemons' NOTIFY: the saga reader applies the events of the saga partitions this daemon
 * holds (instances in parallel, each in log order, every step fenced by its partition's lease), and the
 * bus relay — on the one daemon holding its lease — carries every event to the transport for
 * subscribers. A crash anywhere loses nothing, and what is delivered twice is a no-op (the inbox).
 */
export function createEngine(options: EngineOptions): Engine {
  const { config, database, sagas, mode } = options;
  const logger = options.logger ?? pino({ level: 'silent' });
  const schema = config.database.schema;
  // Operators' publishes must name a type some saga declares (strict); the store also carries the
  // commands sagas emit and events of other producers, so it validates known types only.
  const registry = new EventTypeRegistry({ strict: config.strictTypes && sagas.length > 0 });
  const storeRegistry = new EventTypeRegistry();
  for (const saga of sagas) {
    registry.registerAll(saga.events);
    storeRegistry.registerAll(saga.events);
  }
  const instanceId = options.instanceId ?? defaultInstanceId();
  const store = new PostgresEventStore(database.db, { schema, registry: storeRegistry, notifier: instanceId });
  // Emitted events enter the log in the step's transaction: the repository appends through the store.
  const repository = new PostgresSagaRepository(database.db, { schema, store });
  const checkpoints = new PostgresCheckpoints(database.db, { schema });
  const leases = new PostgresLeases(database.db, { schema });

  let bus: DurableEventBus | undefined;
  let probe: ProbedBus['ping'];
  if (mode === 'daemon') {
    const built = buildTransport(config, { repository, registry: storeRegistry }, logger);
    if (built.ping && config.bus.type !== 'memory') probe = (ms) => built.ping!(ms);
    const transport = options.metrics ? instrumentBus(built, options.metrics) : built;
    // One relay across daemons: it runs where the `relay:bus-relay` lease is, its checkpoint fenced by it.
    const relayCheckpoints = {
      load: (name: string) => checkpoints.load(name),
      save: async (name: string, cursor: string) => {
        const fence = late.ownership?.fence(RELAY_LEASE);
        if (!fence || (await checkpoints.saveFenced([{ name, cursor, fence }])).length > 0) {
          late.ownership?.lost(RELAY_LEASE);
          throw new LeaseLostError(RELAY_LEASE, instanceId, fence?.epoch ?? 0);
        }
      },
    };
    bus = createDurableBus({
      store, transport, checkpoints: relayCheckpoints, relayName: 'bus-relay', batchSize: config.processing.batchSize, logger, startRelay: false,
    });
  }
  // Sagas read the log themselves on every transport, split across daemons by partition: the log keeps
  // each instance's events in order and a dead daemon's partitions move within a lease. The transport
  // (memory, Redis, hybrid) carries events to subscribers: workers, built-in handlers, other services.
  const readsLog = mode === 'daemon';
  const late: { sagaReader?: SagaReader; ownership?: Ownership } = {};
  /** Wakes this process's readers of the log after a commit that appended (here, or another process's NOTIFY). */
  const wake = () => {
    bus?.relay.poke();
    late.sagaReader?.poke();
  };
  const runtime = new SagaRuntime({
    repository,
    sagas,
    logger,
    timers: mode === 'daemon' ? {} : false,
    subscribe: { group: SAGA_GROUP },
    onEmitted: wake,
  });
  const ownership =
    mode === 'daemon'
      ? new Ownership({
          leases, owner: instanceId, partitions: readsLog ? config.processing.partitions : 0, ttlMs: config.processing.leaseTtlMs,
          singletons: [RELAY_LEASE], logger,
          onChange: () => {
            if (!started) return; // stopping: the relay and the reader are being stopped
            late.sagaReader?.rewind();
            if (!bus) return;
            if (ownership!.fence(RELAY_LEASE)) {
              bus.relay.rewind();
              bus.relay.start();
            } else {
              void bus.relay.stop();
            }
          },
        })
      : undefined;
  late.ownership = ownership;
  const sagaReader =
    readsLog && ownership
      ? new SagaReader({
          store, runtime, ownership, checkpoints, partitions: config.processing.partitions, batchSize: config.processing.batchSize,
          concurrency: config.bus.workers, legacyCheckpoint: SAGA_GROUP, logger,
          onApplied: (events, outcomes) => {
            if (!options.metrics) return;
            const typeOf = new Map(events.map((e) => [e.id, e.type]));
            for (const o of outcomes) {
              const status = o.result === 'dead-lettered' ? 'error' : 'success';
              options.metrics.eventsProcessed.inc({ event_type: typeOf.get(o.eventId) ?? 'unknown', handler: SAGA_GROUP, status });
            }
          },
        })
      : undefined;
  late.sagaReader = sagaReader;
  const sagaByName = new Map(sagas.map((s) => [s.name, s]));

  const publish = async (event: EventEnvelope): Promise<{ position?: number }> => {
    const appended = await store.append(event.streamId, [event]);
    if (bus) {
      wake();
    } else {
      // Direct mode: run the steps here; a daemon reading the log later finds them applied (inbox).
      await runtime.handle(event);
    }
    const stored = appended.events[0];
    return stored ? { position: stored.position } : {};
  };

  const redeliver = async (letter: DeadLetter): Promise<void> => {
    const saga = letter.saga ? sagaByName.get(letter.saga) : undefined;
    if (saga) await runtime.handleFor(saga, letter.event, { unpark: true });
    else if (letter.handlerId.startsWith(SAGA_GROUP) || letter.handlerId.startsWith('saga:')) await runtime.handle(letter.event);
    else throw new UnavailableError(`dead letter ${letter.id} belongs to handler ${letter.handlerId}, which this process does not run`);
  };

  const operator = new LocalOperator({
    mode, db: database.db, schema, store, deadLetters: repository.deadLetters, registry, sagas, queries: repository,
    publish, redeliver,
    fireTimer: async (timer) => void (await runtime.fireTimer(timer)),
    logger,
    status: { bus: mode === 'daemon' ? config.bus.type : 'none (direct)' },
  });

  let started = false;
  let subscriptions: Subscription[] = [];
  let unlisten: (() => Promise<void>) | undefined;
  return {
    store, repository, registry, runtime, bus, operator,
    async health() {
      const reason = (err: unknown) => (err instanceof Error ? err.message : String(err)) || 'failed';
      const checks: Record<string, string> = {};
      const [db, redis] = await Promise.all([
        database.db.query('SELECT 1').then(() => 'ok', reason),
        probe ? probe(1000).then(() => 'ok', reason) : undefined,
      ]);
      checks.database = db;
      if (redis !== undefined) checks.redis = redis;
      return checks;
    },
    async start() {
      if (started) return;
      started = true;
      if (readsLog) {
        const agreed = await leases.agree('sagas.partitions', String(config.processing.partitions));
        if (agreed !== String(config.processing.partitions)) {
          throw new ConfigError(
            `SAGAFLOW_PARTITIONS=${config.processing.partitions}, but the daemons of schema "${schema}" use ${agreed}: every daemon of a schema must use the same number`,
            { key: 'processing.partitions', value: config.processing.partitions },
          );
        }
      }
      await runtime.start();
      if (bus) subscriptions = await subscribeConfigured(bus, config.subscriptions, logger);
      await bus?.start();
      // Commits of other processes wake this one (a hint: the readers' poll is the backstop).
      if (mode === 'daemon' && database.db.listen) {
        unlisten = await database.db.listen(store.channel, (from) => {
          if (from !== instanceId) wake();
        });
      }
      await ownership?.start();
      sagaReader?.start();
    },
    async stop({ drainTimeoutMs = config.shutdownTimeoutMs } = {}) {
      if (!started) return;
      started = false;
      // The saga reader finishes its current page (checkpoint after commit); the runtime unsubscribes and
      // stops the timer poller after its batch; the bus drains handlers in flight.
      // The reader finishes its page (checkpoints saved after the steps committed), the relay its pass; then
      // partitions and the relay are handed back at once: the next owner need not wait for them to expire.
      await sagaReader?.stop();
      await bus?.relay.stop();
      await ownership?.stop();
      await unlisten?.().catch(() => undefined);
      await runtime.stop();
      for (const sub of subscriptions.splice(0)) await sub.unsubscribe();
      await bus?.stop({ drainTimeoutMs });
    },
  };
}
