import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/core/events/envelope.js';
import { emittedEventId } from '../../src/core/saga/event-mapping.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';
import { runSourceChild } from '../support/source-child.js';

const child = 'test/support/saga-crash-child.ts';

const run = (env: Record<string, string>) => runSourceChild(child, env);

describe.runIf(hasPostgres())('crash between commit and publish (real subprocess, SIGKILL)', () => {
  let t: TestDb;
  let dir: string;
  beforeAll(async () => {
    t = await pgTestDb();
    dir = mkdtempSync(join(tmpdir(), 'sagaflow-crash-'));
  });
  afterAll(async () => {
    await t.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an emitted event committed with its step is relayed after restarts, and a consumer deduping by id applies it once', async () => {
    const busFile = join(dir, 'bus.jsonl');
    const key = `crash-${crypto.randomUUID()}`;
    const base = { SAGAFLOW_TEST_DATABASE_URL: process.env.SAGAFLOW_TEST_DATABASE_URL!, CRASH_SCHEMA: t.schema, CRASH_ORDER: key, CRASH_BUS_FILE: busFile };
    const repo = new PostgresSagaRepository(t.db, { schema: t.schema });

    // 1. The step commits (its emitted event in the log, same transaction), then the process dies before any relay ran.
    const r1 = await run({ ...base, CRASH_ACTION: 'step', CRASH_AT: 'after-commit' });
    expect(r1.signal, r1.stderr).toBe('SIGKILL');
    expect(await repo.get('Order', key)).toMatchObject({ state: 'awaitingPayment', version: 1 });
    const emitted = await repo.emitted('Order', key);
    expect(emitted.map((e) => e.type)).toEqual(['payment.requested']);
    const placed = (await repo.history('Order', key))[0]!.eventId;
    expect(emitted[0]!.id).toBe(emittedEventId('Order', key, placed, 0));
    expect(existsSync(busFile)).toBe(false);

    // 2. The relay hands the page to the transport, then dies before saving its checkpoint.
    const r2 = await run({ ...base, CRASH_ACTION: 'relay', CRASH_AT: 'after-publish' });
    expect(r2.signal, r2.stderr).toBe('SIGKILL');

    // 3. A restarted relay sends it again from the old checkpoint and saves the new one; a third pass sends nothing.
    const r3 = await run({ ...base, CRASH_ACTION: 'relay' });
    expect(r3.code, r3.stderr).toBe(0);
    const r4 = await run({ ...base, CRASH_ACTION: 'relay' });
    expect(r4.code, r4.stderr).toBe(0);

    const published = readFileSync(busFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EventEnvelope);
    expect(published.map((e) => e.id)).toEqual([emitted[0]!.id, emitted[0]!.id]); // at least once: here twice, same id
    const applied = new Map<string, EventEnvelope>();
    for (const e of published) if (!applied.has(e.id)) applied.set(e.id, e);
    expect([...applied.values()].map((e) => e.type)).toEqual(['payment.requested']);
    expect(published[0]!.metadata).toMatchObject({ saga: 'Order', sagaKey: key });
  });
});
