import type { Logger } from 'pino';
import type { SagaflowConfig } from '../config/schema.js';
import { createDurableBus, type DurableEventBus } from '../core/bus/durable-bus.js';
import { ConfigError, LeaseLostError } from '../core/errors.js';
import type { Subscription } from '../core/ports/event-bus.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { Fence } from '../core/ports/leases.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import type { SagaflowMetrics } from '../observability/metrics.js';
import { instrumentBus } from '../observability/instrument-bus.js';
import { Ownership } from '../runtime/ownership.js';
import { SagaReader } from '../runtime/saga-reader.js';
import { SagaRuntime } from '../runtime/saga-runtime.js';
import type { OpenedDatabase } from './database.js';
import type { Storage } from './storage.js';
import { subscribeConfigured } from './subscriptions.js';
import { buildTransport } from './transport.js';
import { SharedLogReads, type LogReader } from '../core/bus/shared-log-reads.js';
import { parseWorkNotification } from '../postgres/work-queue.js';
import { WorkerFeed, type WorkHandOff } from '../runtime/worker-feed.js';
import { WorkWaiters } from '../runtime/work-waiters.js';
import { EarlyCommands } from '../runtime/early-commands.js';
import { ReplySteps } from '../runtime/reply-steps.js';


/** Subscription group of the saga runtime on a bus (and the checkpoint of the unpartitioned reader before 0.2). */
/**
 * How often the daemon's followers of the log (bus relay, saga reader) save their checkpoints at most. A save
 * per page was a write transaction per page (the larger part of a lightly loaded daemon's commits); a crash
 * now re-delivers up to this long of the log, which the inbox (sagas) and event ids (transports) dedupe.
 */
const CHECKPOINT_INTERVAL_MS = 250;
/** How soon the followers read after steps whose emitted events were all handed to waiting workers. */
const WAKE_LATER_MS = 50;

export const SAGA_GROUP = 'sagaflow.sagas';
/** The lease of the bus relay (store → transport): one owner across the daemons of a schema. */
export const RELAY_LEASE = 'relay:bus-relay';
/** The lease of the worker feed (log → work items): one owner across the daemons of a schema. */
export const WORKER_FEED_LEASE = 'relay:worker-feed';
/** The worker feed's checkpoint. */
const WORKER_FEED = 'worker-feed';

/** How events reach the sagas and the subscribers. */
export interface Delivery {
  readonly runtime: SagaRuntime;
  /** The durable bus (daemon mode): `publish` appends to the log, the relay carries the log to the transport. */
  readonly bus: DurableEventBus | undefined;
  /** Wakes this process's followers of the log after a local commit that appended. */
  wake(): void;
  /** The worker feed (daemon mode): records the commands of registered workers. */
  readonly feed: WorkerFeed | undefined;
  /** Wakes the workers waiting for commands (long-polls, in-process loops) when the feed records some. */
  readonly waiters: WorkWaiters;
  /** Where the feed hands new commands to claims waiting in this process (the engine's work service). */
  useHandOff(handOff: WorkHandOff): void;
  /** Commands handed as their step committed, not yet recorded (the work service's completions record them). */
  readonly early: EarlyCommands;
  /** Saga steps the work service's completions apply with their replies (daemon mode; ADR 0020). */
  readonly replySteps: ReplySteps | undefined;
  /** Pings the transport's server (Redis), when it has one. */
  readonly probe: ((timeoutMs: number) => Promise<void>) | undefined;
  start(): Promise<void>;
  stop(drainTimeoutMs: number): Promise<void>;
}

export interface DeliveryOptions {
  config: SagaflowConfig;
  database: OpenedDatabase;
  storage: Storage;
  sagas: readonly SagaDefinition[];
  /** `daemon`: relay, saga reader, leases, timers. `direct`: the runtime only (the caller applies events). */
  mode: 'daemon' | 'direct';
  instanceId: string;
  logger: Logger;
  metrics?: SagaflowMetrics | undefined;
  /**
   * More singletons (projections, the retention and statistics jobs), built on this delivery's reads of the log: each runs
   * on the one daemon holding its lease.
   */
  followers?: (context: FollowerContext) => readonly LeasedFollower[];
}

/** What a {@link LeasedFollower} is built with. */
export interface FollowerContext {
  /** The process's shared reads of the log. */
  reads: LogReader;
  /** The fence of a lease this daemon holds (undefined: not held). */
  fence(lease: string): Fence | undefined;
  /** Drops a lease a fenced write found lost. */
  lost(lease: string): void;
}

/** A follower of the log that runs only where its lease is held (started and stopped as ownership changes). */
export interface LeasedFollower {
  readonly lease: string;
  start(): void;
  stop(): Promise<void>;
  poke(): void;
}

/**
 * The delivery side (ADR 0006, 0007). In daemon mode two followers read the log: the saga reader applies the
 * events of the saga partitions this daemon leases (every step fenced by its partition's lease), and the bus
 * relay — on the one daemon holding its lease, its checkpoint fenced by it — carries every event to the
 * transport. Local commits wake them at once, other daemons' commits by NOTIFY; polling is the backstop.
 */
export function buildDelivery(options: DeliveryOptions): Delivery {
  const { config, database, storage, sagas, mode, instanceId, logger, metrics } = options;
  const { store, repository, checkpoints, leases } = storage;
  const daemon = mode === 'daemon';
  const late: { reader?: SagaReader; ownership?: Ownership } = {};
  let running = false;

  // The saga reader and the relay read the log through one SharedLogReads: in step, they share their reads.
  const reads = new SharedLogReads(store);
  const followers = daemon && options.followers
    ? options.followers({ reads, fence: (lease) => late.ownership?.fence(lease), lost: (lease) => late.ownership?.lost(lease) })
    : [];
  let bus: DurableEventBus | undefined;
  let probe: Delivery['probe'];
  // A singleton follower's checkpoint is saved only while this daemon holds its lease at the same epoch.
  const fencedBy = (lease: string) => ({
    load: (name: string) => checkpoints.load(name),
    save: async (name: string, cursor: string) => {
      const fence = late.ownership?.fence(lease);
      if (!fence || (await checkpoints.saveFenced([{ name, cursor, fence }])).length > 0) {
        late.ownership?.lost(lease);
        throw new LeaseLostError(lease, instanceId, fence?.epoch ?? 0);
      }
    },
  });
  if (daemon) {
    const built = buildTransport(config, storage, logger);
    if (built.ping && config.bus.type !== 'memory') probe = (ms) => built.ping!(ms);
    const transport = metrics ? instrumentBus(built, metrics) : built;
    bus = createDurableBus({
      store, reader: reads, transport, checkpoints: fencedBy(RELAY_LEASE), relayName: 'bus-relay', batchSize: config.processing.batchSize, logger, startRelay: false,
      checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
    });
  }
  const waiters = new WorkWaiters();
  const early = new EarlyCommands();
  const handOff: { to?: WorkHandOff } = {};
  const feed = daemon
    ? new WorkerFeed({
        queue: storage.workQueue, reader: reads, checkpoints: fencedBy(WORKER_FEED_LEASE), name: WORKER_FEED, batchSize: config.processing.batchSize,
        checkpointIntervalMs: CHECKPOINT_INTERVAL_MS, onEnqueued: (workers) => waiters.notify(workers), logger,
        handOff: { reserve: (worker) => handOff.to?.reserve(worker) }, early,
      })
    : undefined;
  // A step's commands go to workers waiting here as soon as it commits, before the feed reads them (ADR 0018).
  // The ids handed are kept until the step's wake-up (onEmitted, right after) asks for them.
  const handed = new Set<string>();
  if (feed) {
    repository.onCommitted = (events) => {
      try {
        if (handed.size > 10_000) handed.clear(); // ids a step never asked for: at worst a wake-up comes at once
        for (const id of feed.offer(events)) handed.add(id);
      } catch (err) {
        logger.warn({ err }, 'handing commands to waiting workers failed (the worker feed records them)');
      }
    };
  }
  const wake = () => {
    clearTimeout(wakeTimer);
    wakeTimer = undefined;
    reads.invalidate();
    bus?.relay.poke();
    feed?.relay.poke();
    late.reader?.poke();
    for (const f of followers) f.poke();
  };
  // A step whose every emitted event was a command handed to a waiting worker leaves nothing any reader here
  // must act on now: the feed's record, the relay's send and the checkpoints follow within WAKE_LATER_MS,
  // shared with the other steps of that time (ADR 0020). Anything else wakes them at once.
  let wakeTimer: NodeJS.Timeout | undefined;
  const wakeLater = () => {
    wakeTimer ??= setTimeout(wake, WAKE_LATER_MS).unref();
  };
  const afterEmitted = (emitted: readonly EventEnvelope[]) => {
    let allHanded = true;
    for (const e of emitted) if (!handed.delete(e.id)) allHanded = false;
    if (allHanded) wakeLater();
    else wake();
  };
  const runtime = new SagaRuntime({
    repository, sagas, logger, timers: daemon ? {} : false, subscribe: { group: SAGA_GROUP }, onEmitted: afterEmitted,
    stepsPerTransaction: config.processing.stepsPerTransaction,
  });
  const ownership = daemon
    ? new Ownership({
        leases, owner: instanceId, partitions: config.processing.partitions, ttlMs: config.processing.leaseTtlMs, singletons: [RELAY_LEASE, WORKER_FEED_LEASE, ...followers.map((f) => f.lease)], logger,
        onChange: () => {
          if (!running) return; // stopping: the relay and the reader are being stopped
          late.reader?.rewind();
          for (const f of followers) {
            if (ownership!.fence(f.lease)) f.start();
            else void f.stop();
          }
          if (ownership!.fence(WORKER_FEED_LEASE)) {
            if (!feedRunning) feed?.start();
            feedRunning = true;
          } else if (feedRunning) {
            feedRunning = false;
            void feed?.stop();
          }
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
  const reader = ownership
    ? new SagaReader({
        store: reads, runtime, ownership, checkpoints, partitions: config.processing.partitions, batchSize: config.processing.batchSize,
        concurrency: config.bus.workers, legacyCheckpoint: SAGA_GROUP, logger, checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
        onApplied: (events, outcomes) => {
          if (!metrics) return;
          const typeOf = new Map(events.map((e) => [e.id, e.type]));
          for (const o of outcomes) {
            metrics.eventsProcessed.inc({ event_type: typeOf.get(o.eventId) ?? 'unknown', handler: SAGA_GROUP, status: o.result === 'dead-lettered' ? 'error' : 'success' });
          }
        },
      })
    : undefined;
  late.reader = reader;
  const replySteps = reader
    ? new ReplySteps({
        runtime, reader, store: repository, logger, wakeLater,
        onStepped: (reply, outcome) =>
          metrics?.eventsProcessed.inc({ event_type: reply.type, handler: SAGA_GROUP, status: outcome.result === 'dead-lettered' ? 'error' : 'success' }),
      })
    : undefined;

  let feedRunning = false;
  let subscriptions: Subscription[] = [];
  let unlisten: (() => Promise<void>) | undefined;
  return {
    runtime, bus, wake, probe, feed, waiters, early, replySteps,
    useHandOff(to) {
      handOff.to = to;
    },
    async start() {
      running = true;
      if (daemon) {
        const partitions = String(config.processing.partitions);
        const agreed = await leases.agree('sagas.partitions', partitions);
        if (agreed !== partitions) {
          throw new ConfigError(
            `SAGAFLOW_PARTITIONS=${partitions}, but the daemons of schema "${config.database.schema}" use ${agreed}: every daemon of a schema must use the same number`,
            { key: 'processing.partitions', value: config.processing.partitions },
          );
        }
      }
      await runtime.start();
      if (bus) subscriptions = await subscribeConfigured(bus, config.subscriptions, logger);
      await bus?.start();
      if (daemon && database.db.listen) {
        // Other processes' commits wake this one; its own come back too and are ignored (local pokes did it).
        // Work notifications wake the workers waiting here for those commands.
        unlisten = await database.db.listen(store.channel, (payload) => {
          const work = parseWorkNotification(payload);
          if (work) {
            if (work.from !== instanceId) waiters.notify(work.workers);
          } else if (payload !== instanceId) {
            wake();
          }
        });
      }
      // The worker feed of a new schema starts at the head of the log, not at its beginning.
      if (feed && (await checkpoints.load(WORKER_FEED)) === undefined) await checkpoints.save(WORKER_FEED, await store.headCursor());
      await ownership?.start();
      reader?.start();
    },
    async stop(drainTimeoutMs) {
      running = false;
      clearTimeout(wakeTimer);
      // The reader finishes its page (checkpoints saved after the steps committed), the relay its pass; then
      // partitions and the relay are handed back at once: the next owner need not wait for them to expire.
      await reader?.stop();
      await bus?.relay.stop();
      await Promise.all(followers.map((f) => f.stop()));
      feedRunning = false;
      await feed?.stop();
      await ownership?.stop();
      await unlisten?.().catch(() => undefined);
      await runtime.stop();
      for (const sub of subscriptions.splice(0)) await sub.unsubscribe();
      await bus?.stop({ drainTimeoutMs });
    },
  };
}
