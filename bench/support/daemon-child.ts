/**
 * A daemon in a process of its own, for benches that measure the daemon's process (its RSS): compiled and
 * run on plain node by `bench/flat-cost.bench.ts`, with BENCH_DATABASE_URL and BENCH_SCHEMA. It runs
 * `startDaemon` on that schema (the memory bus, the saga of `test/support/test-saga.ts`), prints
 * `ready <url> <token>` and stops on SIGTERM.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load-config.js';
import { newId } from '../../src/core/ids.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { OrderSaga } from '../../test/support/test-saga.js';

const url = process.env.BENCH_DATABASE_URL;
const schema = process.env.BENCH_SCHEMA;
if (!url || !schema) throw new Error('BENCH_DATABASE_URL and BENCH_SCHEMA must be set');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sagaflow-bench-daemon-'));
const token = `bench-${newId()}`;
const { config } = loadConfig({
  env: {},
  cwd: dataDir,
  flags: {
    dataDir, 'store.type': 'postgres', 'database.url': url, 'database.schema': schema, 'bus.type': 'memory',
    'http.port': 0, 'http.token': token, 'log.level': 'silent',
  },
});
const daemon = await startDaemon({ config, sagas: [OrderSaga] });
process.stdout.write(`ready ${daemon.url} ${token}\n`);
process.on('SIGTERM', () => {
  void daemon.stop({ timeoutMs: 5000 }).then(() => process.exit(0));
});
