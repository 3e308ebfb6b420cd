/**
 * The embedded default under load, as a new user meets it (issue 13, G4): `startDaemon` on PGlite (a fresh
 * data directory, the memory bus, the three-hop saga of the flow bench), 50 concurrent publishers posting
 * `hop.started` over HTTP (`POST /v1/events`, what `sagaflow publish` sends) for a fixed time, while a probe
 * calls `GET /healthz` every 20 ms.
 *
 * Figures: publishes/s accepted under load; `/healthz` p99 under load against `/healthz` p99 on the idle
 * daemon just before (baseline, same run). Goal: p99 under load ≤ 100 ms (reported as 1/p99, so the goal is
 * a minimum of 10/s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load-config.js';
import { newId } from '../src/core/ids.js';
import { startDaemon } from '../src/daemon/daemon.js';
import { ThreeHop } from './flow.bench.js';
import type { BenchContext, BenchResult } from './types.js';

const PUBLISHERS = 50;
const PROBE_EVERY_MS = 20;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Calls /healthz every PROBE_EVERY_MS until `stop` resolves; returns the sorted latencies. */
async function probe(url: string, until: Promise<void>): Promise<number[]> {
  let done = false;
  void until.then(() => (done = true));
  const latencies: number[] = [];
  while (!done) {
    const t0 = performance.now();
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`/healthz answered ${res.status}`);
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
  }
  return latencies.sort((a, b) => a - b);
}

export default async function bench(ctx: BenchContext): Promise<BenchResult[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sagaflow-bench-pglite-api-'));
  const token = `bench-${newId()}`;
  const loadMs = ctx.quick ? 4_000 : 10_000;
  const { config } = loadConfig({
    env: {},
    cwd: dataDir,
    flags: { dataDir, 'store.type': 'pglite', 'bus.type': 'memory', 'http.port': 0, 'http.token': token, 'log.level': 'silent' },
  });
  const daemon = await startDaemon({ config, sagas: [ThreeHop] });
  try {
    const idle = await probe(daemon.url, new Promise((r) => setTimeout(r, ctx.quick ? 1_000 : 2_000)));
    let published = 0;
    let failed = 0;
    const end = performance.now() + loadMs;
    const load = Promise.all(
      Array.from({ length: PUBLISHERS }, async () => {
        while (performance.now() < end) {
          const id = newId();
          const res = await fetch(`${daemon.url}/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'hop.started', streamId: `hop-${id}`, data: { id } }),
          });
          await res.arrayBuffer();
          if (res.status === 201) published++;
          else failed++;
        }
      }),
    ).then(() => undefined);
    const loaded = await probe(daemon.url, load);
    await load;
    if (failed > 0) throw new Error(`${failed} publishes were refused under load`);
    const rate = published / (loadMs / 1000);
    const [p99, idleP99] = [percentile(loaded, 99), percentile(idle, 99)];
    ctx.log(`PGlite, ${PUBLISHERS} publishers: ${rate.toFixed(0)} publishes/s; /healthz p99 ${p99.toFixed(1)} ms (idle ${idleP99.toFixed(1)} ms)`);
    return [
      {
        name: `PGlite daemon: /healthz while ${PUBLISHERS} HTTP publishers run (as 1/p99)`,
        unit: '1/s at p99',
        value: 1000 / p99,
        baselineName: '/healthz on the idle daemon',
        baseline: 1000 / idleP99,
        ratio: idleP99 / p99,
        minValue: 10,
        notes: `p99 ${p99.toFixed(1)} ms, p50 ${percentile(loaded, 50).toFixed(1)} ms, max ${loaded.at(-1)!.toFixed(1)} ms under load (idle p99 ${idleP99.toFixed(1)} ms); ${rate.toFixed(0)} publishes/s accepted, ${published} in ${loadMs / 1000} s; goal p99 ≤ 100 ms`,
      },
    ];
  } finally {
    await daemon.stop({ timeoutMs: 10_000 });
    rmSync(dataDir, { recursive: true, force: true });
  }
}
