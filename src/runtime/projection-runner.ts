import pino, { type Logger } from 'pino';
import { EventRelay } from '../core/bus/event-relay.js';
import type { LogReader } from '../core/bus/shared-log-reads.js';
import { LeaseLostError } from '../core/errors.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import type { Fence } from '../core/ports/leases.js';
import { projectionCheckpoint, type ProjectionDefinition, type ProjectionStart } from '../core/sourcing/projection.js';

/** The storage a projection runner needs (implemented by `PostgresProjections`). */
export interface ProjectionCheckpoints {
  readonly schema: string;
  load(checkpoint: string): Promise<string | undefined>;
  startCursor(start: ProjectionStart, head: () => Promise<string>): Promise<string>;
  initialize(checkpoint: string, cursor: string): Promise<string>;
  commitPage(fence: Fence, checkpoint: string, cursor: string, apply: (tx: Queryable) => Promise<void>): Promise<void>;
  saveFenced(fence: Fence, checkpoint: string, cursor: string): Promise<void>;
}

/** Options of {@link ProjectionRunner}. */
export interface ProjectionRunnerOptions {
  definition: ProjectionDefinition;
  /** The log (the process's shared reads). */
  reader: LogReader;
  /** Where the log's head is (a projection starting `now`). */
  head: () => Promise<string>;
  checkpoints: ProjectionCheckpoints;
  /** The database, for at-least-once projections (transactional ones get their page's transaction). */
  db: Db;
  /** The projection's lease as held now (undefined: not held), and what to call when a fenced write finds it lost. */
  fence: () => Fence | undefined;
  lost: () => void;
  /** Events per page (and per transaction). @default 100 */
  batchSize?: number;
  /** Awaited after each page committed (a rebuild's progress and lease renewal); throwing stops the pass. */
  onPage?: (page: { position: number; events: number }) => Promise<void> | void;
  logger?: Logger;
}

/** The lease of a projection: one active instance across daemons. */
export const projectionLease = (name: string) => `projection:${name}`;

/**
 * Keeps one projection: an {@link EventRelay} (the one follower of the log: gap-free, woken after appends)
 * whose pages go to the projection's `apply`. A transactional projection commits each page's writes with its
 * checkpoint in one transaction under its lease's fence, so a crash mid-page applies nothing of it and a
 * daemon that lost the lease commits nothing more; an at-least-once one applies, then saves the checkpoint.
 */
export class ProjectionRunner {
  readonly relay: EventRelay;
  readonly lease: string;
  private readonly checkpoint: string;
  private running = false;

  constructor(private readonly options: ProjectionRunnerOptions) {
    const { definition } = options;
    this.lease = projectionLease(definition.name);
    this.checkpoint = projectionCheckpoint(definition.name);
    const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'projection', projection: definition.name });
    this.relay = new EventRelay({
      store: options.reader,
      name: this.checkpoint,
      batchSize: options.batchSize ?? 100,
      logger,
      deliver: (events) => this.deliver(events),
      checkpoints: {
        // Loaded at start and after a failure or a change of ownership: the projection's tables are made first.
        load: async () => {
          await definition.setup?.({ db: options.db, schema: options.checkpoints.schema });
          return (await options.checkpoints.load(this.checkpoint)) ?? this.initialize();
        },
        // Transactional: saved in the page's transaction (deliver). At-least-once: after the page, fenced.
        save: async (_name, cursor) => {
          if (definition.delivery === 'transactional') return;
          await this.fenced(() => options.checkpoints.saveFenced(this.held(), this.checkpoint, cursor));
        },
      },
    });
  }

  get name(): string {
    return this.options.definition.name;
  }

  /**
   * Follows the log (this daemon holds the lease). Called again after every change of ownership: a running
   * runner then reloads its checkpoint (a reset may have moved it back while the lease changed hands).
   */
  start(): void {
    if (this.running) {
      this.relay.rewind();
      return;
    }
    this.running = true;
    this.relay.rewind();
    this.relay.start();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.relay.stop();
  }

  poke(): void {
    this.relay.poke();
  }

  /** Reads up to the head of the log now (a rebuild run by the CLI); returns the events read. */
  catchUp(): Promise<number> {
    this.relay.rewind();
    return this.relay.runOnce();
  }

  private async initialize(): Promise<string> {
    const { checkpoints, definition, head } = this.options;
    return checkpoints.initialize(this.checkpoint, await checkpoints.startCursor(definition.start, head));
  }

  private held(): Fence {
    const fence = this.options.fence();
    if (fence) return fence;
    throw new LeaseLostError(this.lease, 'this process', 0);
  }

  /**
   * Runs a fenced write; a lost lease is reported (the daemon stops this runner) and rethrown — unless the
   * lease was taken again meanwhile (a newer epoch held now: the write used the old one).
   */
  private async fenced(write: () => Promise<void>): Promise<void> {
    const epoch = this.options.fence()?.epoch;
    try {
      await write();
    } catch (err) {
      if (err instanceof LeaseLostError && this.options.fence()?.epoch === epoch) this.options.lost();
      throw err;
    }
  }

  private async deliver(events: StoredEvent[]): Promise<void> {
    const { definition, checkpoints, db } = this.options;
    const last = events.at(-1);
    if (!last) return;
    const mine = events.filter((e) => definition.accepts(e.type));
    const apply = async (q: Queryable) => {
      for (const event of mine) await definition.apply(event, { db: q, schema: checkpoints.schema, replay: false });
    };
    if (definition.delivery === 'transactional') await this.fenced(() => checkpoints.commitPage(this.held(), this.checkpoint, last.cursor, apply));
    else await apply(db);
    await this.options.onPage?.({ position: last.position, events: events.length });
  }
}
