/**
 * `sagaflow sagas export` and `sagaflow verify` on a real database: histories recorded by the real runtime on
 * Postgres (and PGlite), exported to a file and verified from it and from the database directly, against the
 * current example sagas (exit 0) and a changed module (exit 6, the divergence named).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readExport, type ExportedInstance } from '../../src/app/saga-export-format.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { TaskProcessing } from '../../sagas/index.js';
import { runCli } from '../support/cli-harness.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { databaseUrl } from '../support/services.js';
import { Driver, taskScenarios } from '../support/verify-fixtures.js';

const changedModule = path.resolve('test/fixtures/verify/changed-sagas/index.ts');

describe('sagaflow sagas export / verify on Postgres', () => {
  let t: TestDb;
  let dir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    t = await pgTestDb();
    dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-verify-'));
    env = { DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: t.schema, SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') };
    const clock = new FakeClock('2026-01-01T00:00:00.000Z');
    // The repository's clock runs 1.5 s behind the runtime's: history must record the decision time, not the write time.
    const repository = new PostgresSagaRepository(t.db, { schema: t.schema, clock: { now: () => new Date(clock.now().getTime() - 1_500) } });
    const runtime = new SagaRuntime({ repository, sagas: [TaskProcessing], clock, timers: false });
    const driver = new Driver(clock, runtime, repository);
    for (const run of Object.values(taskScenarios)) await run(driver);
  });
  afterAll(async () => {
    await t.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('export writes a versioned JSON-lines file with every instance, its history, causes and emitted events', async () => {
    const out = path.join(dir, 'export.jsonl');
    const r = await cli('sagas', 'export', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`exported 6 instance(s) to ${out}`);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: 'sagaflow.saga-export', formatVersion: 1, sagas: [] });
    const instances: ExportedInstance[] = [];
    for await (const i of readExport(lines)) instances.push(i);
    expect(instances.map((i) => i.key)).toEqual(['t-completed', 't-early', 't-failed', 't-running', 't-sla', 't-stuck']);
    const running = instances.find((i) => i.key === 't-running')!;
    expect(running.timers.map((x) => x.id)).toEqual(['xstate.after.slaTimeout.TaskProcessing.active']);
    expect(running.emitted.map((e) => e.type)).toEqual(['agent.assignment.requested']);
    expect(running.events.map((e) => e.type)).toEqual(['task.created', 'agent.assigned']);
    // History time is the decision time (the runtime's clock), which the emitted events carry too.
    expect(running.history[0]!.at).toBe(running.emitted[0]!.timestamp);
  });

  it('verify --from the export and from the database: all ok, exit 0', async () => {
    const out = path.join(dir, 'export.jsonl');
    await cli('sagas', 'export', '--out', out, '--saga', 'TaskProcessing');
    const fromFile = await cli('verify', '--from', out);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toBe('6 instance(s) verified: 6 ok — safe to deploy');
    const fromDb = await cli('verify', '--json');
    expect(fromDb.code).toBe(0);
    expect(JSON.parse(fromDb.stdout).summary).toMatchObject({ instances: 6, ok: true, byOutcome: { ok: 6 } });
  });

  it('verify with a changed module: exit 6, the diverging instances and the step named', async () => {
    const r = await cli('verify', '--sagas', changedModule, '--wide');
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('6 instance(s) verified: 3 ok, 3 diverged — NOT safe to deploy');
    expect(r.stdout).toMatch(/t-stuck .*│ 3 task\.failed .*timers: timers scheduled \[xstate\.after\.compensationRetry/);
    const j = await cli('verify', '--sagas', changedModule, '--json');
    expect(j.code).toBe(6);
    const body = JSON.parse(j.stdout) as { results: Array<{ key: string; outcome: string; divergence: { kind: string; step: number } }> };
    expect(body.results.map((x) => [x.key, x.outcome, x.divergence.kind, x.divergence.step])).toEqual([
      ['t-failed', 'diverged', 'timers', 4],
      ['t-sla', 'diverged', 'timers', 3],
      ['t-stuck', 'diverged', 'timers', 3],
    ]);
  });

  it('bad input: a missing --from file, a file that is not an export', async () => {
    const missing = await cli('verify', '--from', path.join(dir, 'nope.jsonl'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.jsonl does not exist');
    const bogus = path.join(dir, 'bogus.jsonl');
    writeFileSync(bogus, '{"format":"sagaflow.saga-export","formatVersion":9}\n');
    const r = await cli('verify', '--from', bogus);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('format version 9 is not supported');
  });
});

describe('sagaflow sagas export / verify on the embedded PGlite database', () => {
  let dir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-verify-pglite-'));
    env = { SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('instances made by the CLI (steps decided at wall-clock time) verify ok from the database and an export; a held data directory is exit 4', async () => {
    expect((await cli('publish', 'task.created', '--data', '{"taskId":"t-1","taskType":"review"}', '--stream', 'task-t-1')).code).toBe(0);
    expect((await cli('publish', 'task.failed', '--data', '{"taskId":"t-1","error":"crashed"}', '--stream', 'task-t-1')).code).toBe(0);
    const direct = await cli('verify');
    expect([direct.code, direct.stdout]).toEqual([0, '1 instance(s) verified: 1 ok — safe to deploy']);
    const out = path.join(dir, 'e.jsonl');
    expect((await cli('sagas', 'export', '--out', out)).code).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(2);

    // Another live process holds the data directory (as a running daemon does).
    const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
    writeFileSync(path.join(env.SAGAFLOW_DATA_DIR!, 'pglite.lock'), JSON.stringify({ pid: holder.pid, role: 'daemon', since: new Date().toISOString() }));
    try {
      const held = await cli('sagas', 'export', '--out', out);
      expect(held.code).toBe(4);
      expect(held.stderr).toContain(`in use by pid ${holder.pid} (sagaflow daemon); PGlite allows one process per data directory`);
    } finally {
      holder.kill();
    }
    // Each command opens PGlite anew: seconds each on a loaded 2-core machine.
  }, 150_000);
});
