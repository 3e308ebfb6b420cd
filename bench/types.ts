/**
 * Contract between `bench/run.ts` and each `bench/*.bench.ts` module. Every figure is reported beside a
 * baseline measured in the same run (raw pg / ioredis / EventEmitter doing the same work) as a ratio.
 */
export interface BenchContext {
  /** Postgres URL (127.0.0.1 only); undefined when not available. */
  databaseUrl: string | undefined;
  /** Redis URL (127.0.0.1 only); undefined when not available. */
  redisUrl: string | undefined;
  /** Smaller, faster runs (`npm run bench -- --quick`). */
  quick: boolean;
  log(message: string): void;
}

export interface BenchResult {
  /** e.g. `event store append, batch 100`. */
  name: string;
  /** Unit of `value` and `baseline`, e.g. `events/s`. */
  unit: string;
  value: number;
  baselineName: string;
  baseline: number;
  /** `value / baseline` (for rates; for latencies report rates or invert so that higher is better). */
  ratio: number;
  /** Target ratio from the issue, if any, e.g. 0.8. */
  goal?: number;
  /** Absolute target on `value`, if any (e.g. catch-up ≥ 200000 events/s). */
  minValue?: number;
  /** Extra figures (p50/p99 latency, counts) printed after the row. */
  notes?: string;
}

/** A bench module: `export default async function bench(ctx): Promise<BenchResult[]>`. */
export type BenchModule = (ctx: BenchContext) => Promise<BenchResult[]>;
