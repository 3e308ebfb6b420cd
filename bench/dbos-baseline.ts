/**
 * Side-by-side baseline for the flow bench: DBOS Transact (`@dbos-inc/dbos-sdk`, a devDependency of the
 * bench only) running a workflow of three checkpointed trivial steps, in process, on the same Postgres server.
 *
 * Not a bench module itself (its name does not end in `.bench.ts`, so `bench/run.ts` does not pick it up):
 * a bench calls `startDbosBaseline`, runs `round`s and `close`s it.
 *
 * - DBOS gets its own system database on the server of `databaseUrl`, `sagaflow_bench_dbos`: a leftover of
 *   an earlier run is dropped, it is created afresh and migrated (`DBOS.migrate`) before launch, and
 *   `close()` drops it again. Nothing else on the server is touched. `startDbosBaseline` ends with 5
 *   warm-up workflows.
 * - The workflow is registered with `DBOS.registerWorkflow` and its steps run with `DBOS.runStep` (no
 *   decorators: our tsconfig has no `experimentalDecorators`). Registration must precede `DBOS.launch()`,
 *   so it happens once per process, before the first launch; DBOS is a process-wide singleton, so one
 *   baseline may be open at a time.
 * - DBOS logs at level `error` only (it has no `silent`): warnings and info stay out of the bench output.
 *
 * Commits per round: the delta of `pg_stat_database.xact_commit` summed over all databases (`commits`), and
 * in DBOS's system database alone (`systemDatabaseCommits`: all DBOS commits go there, and nothing else
 * does, so it is the clean figure when other sessions use the server). Postgres ≥ 15 publishes a backend's
 * counters lazily: as it goes idle, at most once a second, and otherwise only after 10 s idle
 * (PGSTAT_IDLE_INTERVAL), so a pause of ~600 ms does not make them visible; `pg_stat_force_next_flush()`
 * forces the flush of the backend that calls it only. So DBOS is given its system-database pool
 * (`systemDatabasePool`, sized and set up as DBOS's own default pool), and before each reading every idle
 * connection of that pool, and our monitor connection, request a forced flush (`FORCE_FLUSH`); those
 * statements are subtracted. On Postgres < 15 (no such function) it sleeps 600 ms and the figures are
 * approximate. Counted: DBOS's commits, its background loops' during the round included (about one a
 * second), and in `commits` any other session's on the server (a pool that ended has flushed its
 * counters on exit; one still open may publish up to 10 s late).
 */
import { randomUUID } from 'node:crypto';
import { DBOS } from '@dbos-inc/dbos-sdk';
import pg from 'pg';

export interface DbosRound {
  completions: number;
  latenciesMs: number[];
  elapsedMs: number;
  /** Delta of `pg_stat_database.xact_commit` summed over all databases of the server, ours subtracted. */
  commits: number;
  /**
   * The same in DBOS's system database only, where all DBOS's commits go: unlike `commits`, not inflated by
   * other sessions on the server (a test run beside the bench, another bench's pool not yet closed).
   */
  systemDatabaseCommits: number;
}

export interface DbosBaseline {
  round(opts: { inFlight: number; count: number; budgetMs: number }): Promise<DbosRound>;
  close(): Promise<void>;
}

/** DBOS's system database for the bench, on the server of `databaseUrl`. */
const SYSTEM_DATABASE = 'sagaflow_bench_dbos';
/** DBOS's default system-database pool size (`DEFAULT_POOL_SIZE`), kept: we baseline DBOS as shipped. */
const POOL_SIZE = 10;
/** DBOS's default `idle_in_transaction_session_timeout` on its own pool's connections. */
const IDLE_TRANSACTION_TIMEOUT_MS = 60_000;
/** Deadline of one workflow, start to result: a hung one fails loudly. */
const COMPLETION_TIMEOUT_MS = 30_000;
const WARMUP = 5;

// ---------------------------------------------------------------------------------------------------------
// The workflow: three checkpointed trivial steps

async function threeSteps(x: number): Promise<number> {
  const a = await DBOS.runStep(async () => x + 1, { name: 'one' });
  const b = await DBOS.runStep(async () => a + 1, { name: 'two' });
  return await DBOS.runStep(async () => b + 1, { name: 'three' });
}

let registered: ((x: number) => Promise<number>) | undefined;

/** Registers the workflow once per process; DBOS refuses registrations after `launch()`. */
function workflow(): (x: number) => Promise<number> {
  registered ??= DBOS.registerWorkflow(threeSteps, { name: 'sagaflowBenchThreeSteps' });
  return registered;
}

// ---------------------------------------------------------------------------------------------------------
// Commit counting

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Requests a flush of the calling backend's counters as it goes idle, just before it answers. The catalog
 * scan is needed: a backend with no pending per-relation counters skips the flush, its transaction counts
 * included, however forced (Postgres 15), so a bare `SELECT pg_stat_force_next_flush()` would flush nothing.
 */
const FORCE_FLUSH = 'SELECT pg_stat_force_next_flush() FROM pg_am LIMIT 1';

interface Reading {
  /** `xact_commit` summed over all databases. */
  all: number;
  /** `xact_commit` of DBOS's system database. */
  system: number;
  /** Our own statements (one transaction each) in `all` that the previous reading did not include. */
  ours: number;
  /** Those of them in DBOS's system database. */
  oursInSystem: number;
}

class CommitCounter {
  private constructor(
    private readonly monitor: pg.Client,
    private readonly pool: pg.Pool,
    private readonly canForceFlush: boolean,
  ) {}

  static async open(databaseUrl: string, pool: pg.Pool): Promise<CommitCounter> {
    const monitor = new pg.Client({ connectionString: databaseUrl, application_name: 'sagaflow-bench-dbos-monitor' });
    await monitor.connect();
    const { rows } = await monitor.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
    return new CommitCounter(monitor, pool, Number(rows[0]?.v) >= 150_000);
  }

  /** Makes every pending commit count visible (Postgres ≥ 15), then reads the counters. */
  async read(): Promise<Reading> {
    let flushed = 0;
    if (this.canForceFlush) {
      flushed = await this.flushPool();
      await this.monitor.query(FORCE_FLUSH);
    } else {
      await sleep(600);
    }
    const { rows } = await this.monitor.query<{ total: string; system: string }>(
      `SELECT sum(xact_commit)::bigint AS total, coalesce(sum(xact_commit) FILTER (WHERE datname = $1), 0)::bigint AS system FROM pg_stat_database`,
      [SYSTEM_DATABASE],
    );
    // Ours since the previous reading: its SELECT and the flush requests (the pool's in the system database).
    const ours = this.canForceFlush ? flushed + 2 : 0;
    return { all: Number(rows[0]?.total ?? 0), system: Number(rows[0]?.system ?? 0), ours, oursInSystem: flushed };
  }

  /** Runs FORCE_FLUSH on each idle connection of DBOS's pool; returns how many ran it. */
  private async flushPool(): Promise<number> {
    // DBOS keeps one connection checked out for LISTEN; wait (briefly) for the others to come back.
    for (let waited = 0; this.pool.idleCount < this.pool.totalCount - 1 && waited < 2000; waited += 10) await sleep(10);
    const clients: pg.PoolClient[] = [];
    try {
      for (let i = this.pool.idleCount; i > 0; i--) clients.push(await this.pool.connect());
      await Promise.all(clients.map((c) => c.query(FORCE_FLUSH)));
      return clients.length;
    } finally {
      for (const c of clients) c.release();
    }
  }

  close(): Promise<void> {
    return this.monitor.end();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The baseline

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'sagaflow-bench-dbos-admin' });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `DBOS.migrate` logs through a logger of its own at level info, whatever `logLevel` says ("Created database
 * …", "Running DBOS system database migrations..."): mute `console.log`, where that goes, for its duration.
 * Failures still throw.
 */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => undefined;
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

export async function startDbosBaseline(opts: { databaseUrl: string }): Promise<DbosBaseline> {
  if (new URL(opts.databaseUrl).pathname === `/${SYSTEM_DATABASE}`) {
    throw new Error(`dbos baseline: ${SYSTEM_DATABASE} is DBOS's scratch system database; give the URL of another database`);
  }
  if (DBOS.isInitialized()) throw new Error('dbos baseline: DBOS is already launched in this process (one baseline at a time)');
  const wf = workflow();
  const systemDatabaseUrl = withDatabase(opts.databaseUrl, SYSTEM_DATABASE);
  // A fresh system database: drop a leftover of an earlier (crashed) run; `DBOS.migrate` below creates and
  // migrates it before launch, on connections of its own that close. (Given a pool, launch would not create
  // it, and migrating there, the connection that ran the migrations, ~400 commits, becomes the one DBOS
  // keeps for LISTEN, which we cannot flush: they would turn up in whatever round runs 10 s later.)
  await adminQuery(opts.databaseUrl, `DROP DATABASE IF EXISTS ${SYSTEM_DATABASE}`);

  // Set up as DBOS sets up its own pool (size, connect timeout, idle-in-transaction timeout), but ours, so
  // that the commit counter can reach its connections.
  const pool = new pg.Pool({
    connectionString: systemDatabaseUrl,
    max: POOL_SIZE,
    connectionTimeoutMillis: 10_000,
    application_name: 'sagaflow-bench-dbos',
    options: `-c idle_in_transaction_session_timeout=${IDLE_TRANSACTION_TIMEOUT_MS}`,
  });
  pool.on('error', () => undefined); // an idle connection dropped by the server: the pool replaces it
  let counter: CommitCounter | undefined;
  let launched = false;

  const close = async () => {
    if (launched) await DBOS.shutdown();
    launched = false;
    await counter?.close().catch(() => undefined);
    await pool.end();
    await adminQuery(opts.databaseUrl, `DROP DATABASE IF EXISTS ${SYSTEM_DATABASE}`);
  };

  const tag = randomUUID().slice(0, 8);
  let seq = 0;
  /** One workflow, start to result; returns its latency. */
  const complete = async (): Promise<number> => {
    const n = seq++;
    const id = `bench-${tag}-${n}`;
    const t0 = performance.now();
    const result = await withTimeout(
      DBOS.startWorkflow(wf, { workflowID: id })(n).then((handle) => handle.getResult()),
      COMPLETION_TIMEOUT_MS,
      () => `dbos baseline: workflow ${id} gave no result within ${COMPLETION_TIMEOUT_MS / 1000} s`,
    );
    const ms = performance.now() - t0;
    if (result !== n + 3) throw new Error(`dbos baseline: workflow ${id} returned ${result}, expected ${n + 3}`);
    return ms;
  };

  try {
    await quietly(() => DBOS.migrate(systemDatabaseUrl));
    DBOS.setConfig({ name: 'sagaflow-bench', systemDatabaseUrl, systemDatabasePool: pool, runMigrations: false, logLevel: 'error' });
    launched = true; // shut down even if launch fails half-way
    await DBOS.launch();
    counter = await CommitCounter.open(opts.databaseUrl, pool);
    for (let i = 0; i < WARMUP; i++) await complete();
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }

  return {
    async round({ inFlight, count, budgetMs }) {
      const before = await counter!.read();
      const latenciesMs: number[] = [];
      let started = 0;
      const start = performance.now();
      const end = start + budgetMs;
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (started < count && performance.now() < end) {
            started++;
            latenciesMs.push(await complete());
          }
        }),
      );
      const elapsedMs = performance.now() - start;
      const after = await counter!.read();
      return {
        completions: latenciesMs.length,
        latenciesMs,
        elapsedMs,
        commits: after.all - before.all - after.ours,
        systemDatabaseCommits: after.system - before.system - after.oursInSystem,
      };
    },
    close,
  };
}
