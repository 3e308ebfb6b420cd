import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDb } from '../../src/postgres/pg-db.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { compileForNode } from '../support/compile.js';
import { databaseUrl, hasPostgres, hasRedis, redisUrl, uniqueSchema } from '../support/services.js';

/**
 * The daemon and the CLI as subprocesses, built once into node_modules/.cache (plain node, no
 * TypeScript loader, so each CLI call costs what it costs a user).
 */
const root = path.resolve(import.meta.dirname, '../..');
const buildDir = path.join(root, 'node_modules/.cache/sagaflow-e2e');
const cliEntry = path.join(buildDir, 'dist/src/cli/main-entry.js');
const fixtureSagas = path.join(buildDir, 'dist/test/e2e/daemon-fixture-sagas.js');

function build(): void {
  compileForNode(buildDir, ['test/e2e/daemon-fixture-sagas.ts'], [cliEntry, fixtureSagas]);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a subprocess. */
function cli(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { env: { PATH: process.env.PATH ?? '', SAGAFLOW_REASON: 'e2e test', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: stdout.trim(), stderr: stderr.trim() });
    });
  });
}

async function cliJson<T>(env: Record<string, string>, ...args: string[]): Promise<T> {
  const r = await cli(env, ...args, '--json');
  if (r.code !== 0) throw new Error(`sagaflow ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

interface DaemonProcess {
  child: ChildProcess;
  url: string;
  lines: string[];
  exited: Promise<number>;
}

/** Starts `sagaflow run --port 0` and waits for its URL (from the log). */
async function startDaemon(env: Record<string, string>): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [cliEntry, 'run', '--port', '0', '--sagas', fixtureSagas], {
    // Load tests publish as fast as they can: no rate limit on their daemons.
    env: { PATH: process.env.PATH ?? '', SAGAFLOW_API_RATE_LIMIT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buffer = '';
  const onData = (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  const url = await until(
    'the daemon to listen',
    async () => {
      if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${lines.join('\n')}`);
      const line = lines.find((l) => l.includes('sagaflow daemon listening on'));
      return line ? (JSON.parse(line) as { url: string }).url : undefined;
    },
    90_000,
  );
  return { child, url, lines, exited };
}

async function stopDaemon(d: DaemonProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
  if (d.child.exitCode !== null) return d.child.exitCode;
  d.child.kill(signal);
  const timer = setTimeout(() => d.child.kill('SIGKILL'), 30_000);
  const code = await d.exited;
  clearTimeout(timer);
  return code;
}

/** Drops a test's Postgres schema (what every daemon of the test wrote). */
async function dropSchema(schema: string): Promise<void> {
  const db = new PgDb({ connectionString: databaseUrl! });
  try {
    await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
  } finally {
    await db.close();
  }
}

beforeAll(build, 180_000);

describe('daemon on the embedded default (PGlite)', () => {
  let dir: string;
  let env: Record<string, string>;
  let daemon: DaemonProcess;
  let flag: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-'));
    flag = path.join(dir, 'broken');
    // Small batches: a SIGTERM then leaves stored events after the saga reader's checkpoints for the restart to apply.
    // SAGAFLOW_SAGAS: a CLI opening the database itself loads the daemon's sagas (over Flaky's instances it
    // would refuse to run the bundled examples).
    env = {
      SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow'), SAGAFLOW_E2E_BROKEN_FLAG: flag, SAGAFLOW_SHUTDOWN_TIMEOUT: '10s', EVENT_PROCESSING_BATCH_SIZE: '5',
      SAGAFLOW_SAGAS: fixtureSagas,
    };
    daemon = await startDaemon(env);
  }, 120_000);

  afterAll(async () => {
    if (daemon) await stopDaemon(daemon, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('says it runs on PGlite first, and leaves a 0600 token and daemon.json for the CLI', () => {
    expect(JSON.parse(daemon.lines[0]!)).toMatchObject({ msg: expect.stringMatching(/^using embedded PGlite in .*\.sagaflow\/data/) });
    const tokenFile = path.join(dir, '.sagaflow/api-token');
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const info = JSON.parse(readFileSync(path.join(dir, '.sagaflow/daemon.json'), 'utf8')) as { url: string; pid: number };
    expect(info.url).toBe(daemon.url);
    expect(info.pid).toBe(daemon.child.pid);
  });

  it('the CLI finds the daemon and talks to it', async () => {
    const status = await cliJson<{ mode: string; url: string; database: string; sagas: string[] }>(env, 'status');
    expect(status).toMatchObject({ mode: 'daemon', url: daemon.url, database: 'pglite' });
    expect(status.sagas).toContain('Flaky');
  });

  it('publish → the saga progresses → show / history / why print it', async () => {
    const pub = await cli(env, 'publish', 'task.created', '--data', '{"taskId":"t-1","taskType":"review"}');
    expect(pub.code).toBe(0);
    expect(pub.stdout).toMatch(/^[0-9a-f-]{36}$/);
    // The step appended the assignment request to the log in its own transaction.
    await until('the assignment request in the log', async () => {
      const page = await cliJson<{ events: Array<{ type: string; streamId: string }> }>(env, 'events', 'query', '--type', 'agent.assignment.requested');
      return page.events.some((e) => e.type === 'agent.assignment.requested' && e.streamId === 't-1');
    });
    const shown = await cli(env, 'sagas', 'show', 'TaskProcessing', 't-1');
    expect(shown.stdout).toContain('state:     {"active":"awaitingAssignment"}');
    expect(shown.stdout).toMatch(/emitted \(last 1\):\n\s+agent\.assignment\.requested /);

    await cli(env, 'publish', 'agent.assigned', '--data', '{"taskId":"t-1","agentId":"a-1"}');
    await cli(env, 'publish', 'task.completed', '--data', '{"taskId":"t-1","completedBy":"a-1"}');
    const done = await until('completion', async () => {
      const d = await cliJson<{ instance: { status: string } }>(env, 'sagas', 'show', 'TaskProcessing', 't-1');
      return d.instance.status === 'completed' ? d : undefined;
    });
    expect(done.instance.status).toBe('completed');
    const history = await cliJson<Array<{ eventType: string; kind: string }>>(env, 'sagas', 'history', 'TaskProcessing', 't-1');
    expect(history.map((h) => `${h.eventType}:${h.kind}`)).toEqual(['task.created:applied', 'agent.assigned:applied', 'task.completed:applied']);
    const why = await cli(env, 'sagas', 'why', 'TaskProcessing', 't-1');
    expect(why.stdout).toContain('TaskProcessing t-1 is completed (state completed); it waits for nothing.');
  });

  it('a failing step is dead-lettered; after the fix, replay completes the instance', async () => {
    await cli(env, 'publish', 'flaky.started', '--data', '{"id":"f-1"}');
    await until('Flaky f-1', async () => (await cli(env, 'sagas', 'show', 'Flaky', 'f-1')).code === 0);
    writeFileSync(flag, 'broken');
    await cli(env, 'publish', 'flaky.finish', '--data', '{"id":"f-1"}');
    const letter = await until('the dead letter', async () => {
      const open = await cliJson<Array<{ id: string; sagaKey?: string; error: { message: string } }>>(env, 'dlq', 'list', '--saga', 'Flaky');
      return open.find((l) => l.sagaKey === 'f-1');
    });
    expect(letter.error.message).toContain('downstream service is broken');
    const why = await cli(env, 'sagas', 'why', 'Flaky', 'f-1');
    expect(why.stdout).toContain('Flaky f-1 is running in state waiting');
    expect(why.stdout).toContain('1 event(s) for it are dead-lettered: flaky.finish (downstream service is broken)');
    expect(why.stdout).toContain('sagaflow replay Flaky f-1');

    rmSync(flag);
    const dry = await cli(env, 'replay', 'Flaky', 'f-1', '--dry-run');
    expect(dry.stdout).toContain(`would redeliver flaky.finish`);
    expect((await cliJson<{ instance: { status: string } }>(env, 'sagas', 'show', 'Flaky', 'f-1')).instance.status).toBe('running');
    const replay = await cli(env, 'replay', 'Flaky', 'f-1');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/^Flaky f-1: 1 action\(s\)\n\s+redeliver flaky\.finish/);
    const after = await cliJson<{ instance: { status: string }; deadLetters: Array<{ status: string }> }>(env, 'sagas', 'show', 'Flaky', 'f-1');
    expect(after.instance.status).toBe('completed');
    expect(after.deadLetters.map((l) => l.status)).toEqual(['retried']);
    // Idempotent: nothing left to do.
    expect((await cli(env, 'replay', 'Flaky', 'f-1')).stdout).toBe('Flaky f-1: nothing to do');
  });

  it('bad input through the daemon: one line and its exit code', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['publish', 'task.created', '--data', '{bad'], 2, /^sagaflow: invalid --data JSON/],
      [['publish', 'nope.x', '--data', '{}'], 2, /^sagaflow: unknown event type "nope\.x"; known types: /],
      [['publish', 'task.created', '--data', '{"taskId":""}'], 2, /^sagaflow: invalid data of task\.created at data\.taskId: /],
      [['sagas', 'show', 'Nope', 'k'], 3, /^sagaflow: unknown saga "Nope"; known sagas: /],
      [['sagas', 'history', 'TaskProcessing', 'nope'], 3, /^sagaflow: TaskProcessing instance "nope" not found$/],
      [['dlq', 'show', 'not-an-id'], 3, /^sagaflow: dead letter "not-an-id" not found$/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(env, ...args);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(1);
    }
    const wrongToken = await cli({ ...env, SAGAFLOW_API_TOKEN: 'wrong-token-0123456789' }, 'sagas', 'list');
    expect(wrongToken.code).toBe(4);
    expect(wrongToken.stderr).toBe('sagaflow: missing or wrong bearer token (Authorization: Bearer <token>; see SAGAFLOW_API_TOKEN and http.tokens in docs/configuration.md)');
  });

  /** Publishes `total` events over HTTP, sends `signal` after 15 answers, restarts, and checks each accepted one applied once. */
  async function loadThenSignal(signal: 'SIGTERM' | 'SIGKILL', prefix: string): Promise<void> {
    const token = readFileSync(path.join(dir, '.sagaflow/api-token'), 'utf8').trim();
    const total = 60;
    let answered = 0;
    let signalled = false;
    const publishes = Array.from({ length: total }, async (_, i) => {
      const res = await fetch(`${daemon.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' },
        body: JSON.stringify({ type: 'task.created', data: { taskId: `${prefix}-${i}`, taskType: 'load' } }),
      });
      answered++;
      // Stop the daemon in the middle of the load.
      if (answered === 15 && !signalled) {
        signalled = true;
        daemon.child.kill(signal);
      }
      if (res.status !== 201) throw new Error(`status ${res.status}`);
      return i;
    });
    const settled = await Promise.allSettled(publishes);
    const accepted = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    expect(accepted.length).toBeGreaterThanOrEqual(15);
    // Already signalled: wait for the exit (another signal would force it).
    const code = await daemon.exited;
    if (signal === 'SIGTERM') {
      expect(code).toBe(0);
      expect(existsSync(path.join(dir, '.sagaflow/daemon.json'))).toBe(false);
      expect(daemon.lines.some((l) => l.includes('SIGTERM received'))).toBe(true);
    }

    daemon = await startDaemon(env);
    const listed = await until('every accepted event applied', async () => {
      const list = await cliJson<Array<{ key: string }>>(env, 'sagas', 'list', '--saga', 'TaskProcessing', '--limit', '1000');
      const load = list.filter((i) => i.key.startsWith(`${prefix}-`));
      return load.length >= accepted.length ? load : undefined;
    }, 60_000);
    // Nothing lost, nothing invented: every accepted one (a request cut off by the stop may still have
    // been stored before its answer was lost, so more may appear, never more than were sent).
    const keys = new Set(listed.map((i) => i.key));
    for (const i of accepted) expect(keys.has(`${prefix}-${i}`)).toBe(true);
    expect(listed.length).toBeLessThanOrEqual(total);
    // Applied once each.
    for (const i of accepted.slice(0, 10)) {
      const h = await fetch(`${daemon.url}/v1/sagas/TaskProcessing/${prefix}-${i}/history`, { headers: { authorization: `Bearer ${token}` } });
      const entries = (await h.json()) as Array<{ eventType: string }>;
      expect(entries.filter((e) => e.eventType === 'task.created')).toHaveLength(1);
    }
  }

  it('SIGTERM under load loses nothing: every accepted publish is applied exactly once', async () => {
    await loadThenSignal('SIGTERM', 'term');
  });

  it('SIGKILL under load loses nothing: the restart applies what was stored and not yet applied', async () => {
    await loadThenSignal('SIGKILL', 'kill');
  });

  it('stops cleanly on SIGINT and the CLI then opens the database itself', async () => {
    expect(await stopDaemon(daemon, 'SIGINT')).toBe(0);
    expect(existsSync(path.join(dir, '.sagaflow/daemon.json'))).toBe(false);
    const r = await cliJson<{ instance: { status: string } }>(env, 'sagas', 'show', 'TaskProcessing', 't-1');
    expect(r.instance.status).toBe('completed');
  });
});

function twoDaemons(bus: 'memory' | 'redis'): void {
  describe(`two daemons on one Postgres, ${bus} bus`, () => {
    const schema = uniqueSchema('e2e');
    let dirs: string[] = [];
    let daemons: DaemonProcess[] = [];
    let env: Record<string, string>;

    beforeAll(async () => {
      env = {
        DATABASE_URL: databaseUrl!,
        SAGAFLOW_SCHEMA: schema,
        EVENT_BUS_TYPE: bus,
        ...(bus === 'redis' ? { REDIS_URL: redisUrl!, REDIS_EVENT_CHANNEL_PREFIX: `sagaflow-e2e-${schema}` } : {}),
      };
      dirs = [mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-a-')), mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-b-'))];
      daemons = await Promise.all(dirs.map((d) => startDaemon({ ...env, SAGAFLOW_DATA_DIR: path.join(d, '.sagaflow') })));
    }, 120_000);

    afterAll(async () => {
      await Promise.all(daemons.map((d) => stopDaemon(d, 'SIGKILL')));
      await dropSchema(schema);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it('share the work with no transition applied twice', async () => {
      const tokens = dirs.map((d) => readFileSync(path.join(d, '.sagaflow/api-token'), 'utf8').trim());
      {
        // The first daemon took every partition; within a renewal round or two it gives half back.
        const db = new PgDb({ connectionString: databaseUrl! });
        try {
          await until('the partitions split between the two daemons', async () => {
            const { rows } = await db.query<{ owner: string; n: string }>(
              `SELECT owner, count(*) AS n FROM ${quoteSchema(schema)}.leases WHERE name LIKE 'sagas:partition:%' AND owner IS NOT NULL GROUP BY owner`,
            );
            return rows.length === 2 && rows.every((r) => Number(r.n) === 8);
          }, 20_000);
        } finally {
          await db.close();
        }
      }
      const n = 30;
      const post = (i: number, type: string, data: Record<string, unknown>) =>
        fetch(`${daemons[i % 2]!.url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens[i % 2]}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' },
          body: JSON.stringify({ type, data }),
        }).then((r) => expect(r.status).toBe(201));
      await Promise.all(Array.from({ length: n }, (_, i) => post(i, 'task.created', { taskId: `pg-${i}`, taskType: 'x' })));
      // Replies come after their task exists (events of different streams are not ordered across consumers).
      await until('every instance created', async () => (await cliJson<unknown[]>(env, 'sagas', 'list', '--limit', '1000')).length === n, 60_000);
      await Promise.all(Array.from({ length: n }, (_, i) => post(i + 1, 'agent.assigned', { taskId: `pg-${i}`, agentId: 'a' })));

      // The CLI on Postgres goes to the database directly, beside the running daemons.
      await until('every instance awaiting completion', async () => {
        const list = await cliJson<Array<{ state: unknown }>>(env, 'sagas', 'list', '--limit', '1000');
        return list.length === n && list.every((i) => JSON.stringify(i.state) === '{"active":"awaitingCompletion"}');
      }, 60_000);

      const db = new PgDb({ connectionString: databaseUrl! });
      try {
        const s = quoteSchema(schema);
        const doubled = await db.query(`SELECT saga, key, event_id FROM ${s}.saga_history GROUP BY 1, 2, 3 HAVING count(*) > 1`);
        expect(doubled.rows).toEqual([]);
        const applied = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.saga_history WHERE kind = 'applied'`);
        expect(Number(applied.rows[0]!.n)).toBe(2 * n);
        // Each emitted assignment request entered the log exactly once (in the step that emitted it).
        const requests = await db.query<{ n: string; d: string }>(
          `SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM ${s}.events WHERE type = 'agent.assignment.requested'`,
        );
        expect(Number(requests.rows[0]!.n)).toBe(n);
        expect(Number(requests.rows[0]!.d)).toBe(n);
        // One owner per piece of work: the bus relay and the worker feed each on one daemon; the 16 saga
        // partitions split between the two daemons (on every transport: sagas read the log), each held by one.
        const live = async (like: string) =>
          (await db.query<{ name: string; owner: string }>(`SELECT name, owner FROM ${s}.leases WHERE name LIKE $1 AND owner IS NOT NULL AND expires_at > now()`, [like])).rows;
        expect((await live('relay:%')).map((r) => r.name).sort()).toEqual(['relay:bus-relay', 'relay:worker-feed']);
        const partitions = await live('sagas:partition:%');
        expect(partitions.map((r) => r.name).sort()).toEqual(Array.from({ length: 16 }, (_, p) => `sagas:partition:${p}`).sort());
        expect(new Set(partitions.map((r) => r.owner)).size).toBe(2);
        if (bus === 'redis') {
          // Each stored event is sent to Redis once: one relay, whose checkpoint only moves forward.
          const redis = new Redis(redisUrl!);
          try {
            const stored = async () => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.events`)).rows[0]!.n);
            await until('the relay to catch up', async () => (await redis.xlen(`sagaflow-e2e-${schema}:stream`)) >= (await stored()));
            await new Promise((r) => setTimeout(r, 1500)); // a second relay would add its copies by now
            expect(await redis.xlen(`sagaflow-e2e-${schema}:stream`)).toBe(await stored());
          } finally {
            redis.disconnect();
          }
        }
      } finally {
        await db.close();
      }
      // Both daemons did saga work: each applies the partitions it holds.
      for (const [i, d] of daemons.entries()) {
        const text = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${tokens[i]}` } })).text();
        const processed = [...text.matchAll(/^mcp_events_processed_total\{[^}]*handler="sagaflow\.sagas"[^}]*status="success"\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
        expect(processed).toBeGreaterThan(0);
      }
      if (bus === 'redis') for (const d of daemons) expect(await stopDaemon(d)).toBe(0);
    });

    if (bus === 'redis') {
      // One relay across the daemons: over 10,000 events published through both, the Redis stream holds each
      // stored event exactly once (a relay per daemon sent every event twice).
      it('sends each of 10,000 stored events to Redis once', async () => {
        for (const [i, d] of dirs.entries()) daemons[i] = await startDaemon({ ...env, SAGAFLOW_DATA_DIR: path.join(d, '.sagaflow') });
        const tokens = dirs.map((d) => readFileSync(path.join(d, '.sagaflow/api-token'), 'utf8').trim());
        const n = 10_000;
        let next = 0;
        const lane = async () => {
          for (let i = next++; i < n; i = next++) {
            const r = await fetch(`${daemons[i % 2]!.url}/v1/events`, {
              method: 'POST', headers: { authorization: `Bearer ${tokens[i % 2]}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' },
              body: JSON.stringify({ type: 'flaky.started', data: { id: `count-${i}` } }),
            });
            expect(r.status).toBe(201);
          }
        };
        await Promise.all(Array.from({ length: 16 }, lane));
        const db = new PgDb({ connectionString: databaseUrl! });
        const redis = new Redis(redisUrl!);
        try {
          const s = quoteSchema(schema);
          const stored = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.events`)).rows[0]!.n);
          expect(stored).toBeGreaterThanOrEqual(n);
          const key = `sagaflow-e2e-${schema}:stream`;
          await until('the relay to carry every stored event', async () => (await redis.xlen(key)) >= stored, 60_000);
          await new Promise((r) => setTimeout(r, 1500)); // a second relay would add its copies by now
          expect(await redis.xlen(key)).toBe(stored);
        } finally {
          redis.disconnect();
          await db.close();
        }
        for (const d of daemons) expect(await stopDaemon(d)).toBe(0);
      }, 180_000);
    }

    if (bus === 'memory') {
      it("a killed daemon's partitions are taken over within the lease, and its work is done once", async () => {
        const [survivor, victim] = daemons as [DaemonProcess, DaemonProcess];
        victim.child.kill('SIGKILL');
        await victim.exited;
        const token = readFileSync(path.join(dirs[0]!, '.sagaflow/api-token'), 'utf8').trim();
        const post = (type: string, data: Record<string, unknown>) =>
          fetch(`${survivor.url}/v1/events`, {
            method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' }, body: JSON.stringify({ type, data }),
          }).then((r) => expect(r.status).toBe(201));
        const killedAt = Date.now();
        const m = 20;
        await Promise.all(Array.from({ length: m }, (_, i) => post('task.created', { taskId: `after-kill-${i}`, taskType: 'x' })));
        await until('every new instance created', async () => {
          const list = await cliJson<Array<{ key: string }>>(env, 'sagas', 'list', '--limit', '1000');
          return list.filter((i) => i.key.startsWith('after-kill-')).length === m;
        }, 30_000);
        // Within the lease (5 s) plus a renewal round, not after 30 s.
        expect(Date.now() - killedAt).toBeLessThan(15_000);
        const db = new PgDb({ connectionString: databaseUrl! });
        try {
          const s = quoteSchema(schema);
          const owners = await db.query<{ owner: string }>(`SELECT DISTINCT owner FROM ${s}.leases WHERE name LIKE 'sagas:partition:%' AND expires_at > now()`);
          expect(owners.rows).toHaveLength(1);
          const doubled = await db.query(`SELECT saga, key, event_id FROM ${s}.saga_history GROUP BY 1, 2, 3 HAVING count(*) > 1`);
          expect(doubled.rows).toEqual([]);
        } finally {
          await db.close();
        }
        expect(await stopDaemon(survivor)).toBe(0);
      });
    }
  });
}

describe.runIf(hasPostgres())('scale-out', () => {
  twoDaemons('memory');
  describe.runIf(hasRedis())('with Redis', () => twoDaemons('redis'));
});

// The daemon's connections are cut by the server (57P01 "terminating connection due to administrator
// command", what a Postgres restart or failover does to every session) six times under load: the process
// must survive each time, and every publish it accepted must be applied exactly once.
describe.runIf(hasPostgres())('Postgres connections cut under load', () => {
  const schema = uniqueSchema('e2e');
  let dir: string;
  let daemon: DaemonProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-cut-'));
    env = { DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema, SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') };
    daemon = await startDaemon(env);
  }, 120_000);
  afterAll(async () => {
    await stopDaemon(daemon, 'SIGKILL');
    await dropSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives six cuts and applies every accepted publish once', async () => {
    const token = readFileSync(path.join(dir, '.sagaflow/api-token'), 'utf8').trim();
    const accepted: string[] = [];
    let i = 0;
    let loading = true;
    const publisher = async () => {
      while (loading) {
        const taskId = `cut-${i++}`;
        const r = await fetch(`${daemon.url}/v1/events`, {
          method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' },
          body: JSON.stringify({ type: 'task.created', data: { taskId, taskType: 'x' } }),
        }).catch(() => undefined);
        if (r?.status === 201) accepted.push(taskId);
        else if (r && r.status !== 503) throw new Error(`publish answered ${r.status}: ${await r.text()}\n${daemon.lines.filter((l) => l.includes("API request failed")).slice(-2).join("\n")}`);
      }
    };
    const admin = new PgDb({ connectionString: databaseUrl! });
    try {
      const load = Promise.all([publisher(), publisher(), publisher(), publisher()]);
      for (let cut = 0; cut < 6; cut++) {
        await new Promise((r) => setTimeout(r, 400));
        // Once the daemon has reconnected (its pool opens connections on demand), cut all of them.
        const cutNow = await until(`the daemon's connections (cut ${cut + 1})`, async () => {
          if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) throw new Error(`the daemon exited (${daemon.child.exitCode ?? daemon.child.signalCode})`);
          const { rows } = await admin.query<{ n: string }>(
            `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1`,
            [`sagaflow-daemon/${daemon.child.pid}`],
          );
          return Number(rows[0]!.n) > 0 ? Number(rows[0]!.n) : undefined;
        }, 30_000).catch((err: unknown) => {
          throw new Error(`${String(err)}; accepted ${accepted.length}; daemon log:\n${daemon.lines.slice(-45).join('\n')}`);
        });
        expect(cutNow).toBeGreaterThan(0);
        expect(daemon.child.exitCode).toBeNull();
      }
      await new Promise((r) => setTimeout(r, 400));
      loading = false;
      await load;
      expect(daemon.child.exitCode, daemon.lines.slice(-20).join('\n')).toBeNull();
      expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
      expect(accepted.length).toBeGreaterThan(10); // publishes went on between the cuts
      const s = quoteSchema(schema);
      await until('every accepted publish applied', async () => {
        const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.saga_instances WHERE key = ANY($1::text[])`, [accepted]);
        return Number(rows[0]!.n) === accepted.length;
      }, 30_000);
      const doubled = await admin.query(`SELECT saga, key, event_id FROM ${s}.saga_history GROUP BY 1, 2, 3 HAVING count(*) > 1`);
      expect(doubled.rows).toEqual([]);
    } finally {
      await admin.close();
    }
    expect(await stopDaemon(daemon)).toBe(0);
  }, 120_000);
});

// Three daemons share the saga partitions and the relay while one of them is SIGKILLed at a random instant
// and restarted, at least 30 times, under a load of instances whose replies arrive in order — on Postgres
// alone and with Redis. Counted: every instance ends in the status its replies lead to (compensated vs
// completed), nothing dead-lettered for ordering, no transition applied twice, every partition held by one
// live daemon at the end; with Redis, every emitted command carried to the stream at least once.
function threeDaemonsKilledAtRandom(bus: 'memory' | 'redis', n: number): void {
  describe(`three daemons on Postgres${bus === 'redis' ? ' and Redis' : ' alone'}, SIGKILLed at random`, () => {
    const schema = uniqueSchema('e2e');
    const prefix = `sagaflow-chaos-${schema}`;
    const dirs = [0, 1, 2].map(() => mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-chaos-')));
    const daemons: Array<DaemonProcess | undefined> = [];
    const envOf = (i: number) => ({
      DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema, SAGAFLOW_LEASE_TTL: '2s', SAGAFLOW_DATA_DIR: path.join(dirs[i]!, '.sagaflow'),
      ...(bus === 'redis' ? { EVENT_BUS_TYPE: 'redis', REDIS_URL: redisUrl!, REDIS_EVENT_CHANNEL_PREFIX: prefix } : {}),
    });
    beforeAll(async () => {
      for (let i = 0; i < 3; i++) daemons[i] = await startDaemon(envOf(i));
    }, 120_000);
    afterAll(async () => {
      await Promise.all(daemons.filter((d): d is DaemonProcess => d !== undefined).map((d) => stopDaemon(d, 'SIGKILL')));
      await dropSchema(schema);
      if (bus === 'redis') {
        const redis = new Redis(redisUrl!);
        await redis.del(`${prefix}:stream`);
        redis.disconnect();
      }
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it(`every instance ends as its replies say; nothing twice${bus === 'redis' ? '; every emitted command reaches Redis' : ''}`, async () => {
      const tokens = dirs.map((d) => readFileSync(path.join(d, '.sagaflow/api-token'), 'utf8').trim());
      /** Publishes through any live daemon until one accepts it; a retry carries the same id (idempotent). */
      const publish = async (type: string, data: Record<string, unknown>, streamId: string) => {
        const id = crypto.randomUUID();
        for (let attempt = 0; ; attempt++) {
          const i = Math.floor(Math.random() * 3);
          const d = daemons[i];
          if (d?.child.exitCode === null && d.child.signalCode === null) {
            const r = await fetch(`${d.url}/v1/events`, {
              method: 'POST', headers: { authorization: `Bearer ${tokens[i]}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' },
              body: JSON.stringify({ id, type, data, streamId }), signal: AbortSignal.timeout(5000),
            }).catch(() => undefined);
            if (r?.status === 201) return;
            if (r && r.status !== 503) throw new Error(`publish answered ${r.status}: ${await r.text()}`);
          }
          if (attempt > 2000) throw new Error(`no daemon accepted ${type} for ${streamId}`);
          await new Promise((res) => setTimeout(res, 20));
        }
      };
      const failing = (i: number) => i % 3 === 0;
      let next = 0;
      const lane = async () => {
        for (let i = next++; i < n; i = next++) {
          const taskId = `chaos-${i}`;
          await publish('task.created', { taskId, taskType: 'x' }, taskId);
          await publish('agent.assigned', { taskId, agentId: 'a-1' }, taskId);
          if (failing(i)) {
            await publish('task.failed', { taskId, error: 'boom' }, taskId);
            await publish('agent.released', { taskId, agentId: 'a-1' }, taskId);
          } else {
            await publish('task.completed', { taskId, completedBy: 'a-1' }, taskId);
          }
        }
      };
      let loading = true;
      let kills = 0;
      const killer = async () => {
        while (loading || kills < 30) {
          await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
          const i = Math.floor(Math.random() * 3);
          const victim = daemons[i]!;
          victim.child.kill('SIGKILL');
          await victim.exited;
          kills++;
          daemons[i] = await startDaemon(envOf(i));
        }
      };
      const killing = killer();
      await Promise.all(Array.from({ length: 24 }, lane));
      loading = false;
      await killing;
      expect(kills).toBeGreaterThanOrEqual(30);

      const db = new PgDb({ connectionString: databaseUrl! });
      try {
        const s = quoteSchema(schema);
        const statuses = await until('every instance finished', async () => {
          const { rows } = await db.query<{ status: string; n: string }>(
            `SELECT status, count(*) AS n FROM ${s}.saga_instances WHERE key LIKE 'chaos-%' GROUP BY status`,
          );
          const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
          return (by.completed ?? 0) + (by.compensated ?? 0) + (by.failed ?? 0) === n ? by : undefined;
        }, 120_000).catch(async (err: unknown) => {
          // Say where it stopped: a few unfinished instances with their events and history, the leases, the checkpoints.
          const stuck = await db.query<{ key: string; state: unknown }>(`SELECT key, state FROM ${s}.saga_instances WHERE key LIKE 'chaos-%' AND status = 'running' LIMIT 3`);
          const missing = await db.query<{ n: string }>(`SELECT count(DISTINCT stream_id) AS n FROM ${s}.events WHERE stream_id LIKE 'chaos-%' AND stream_id NOT IN (SELECT key FROM ${s}.saga_instances)`);
          const detail = [];
          for (const r of stuck.rows) {
            const ev = await db.query<{ type: string; c: string }>(`SELECT type, tx_id::text || '.' || position AS c FROM ${s}.events WHERE stream_id = $1 ORDER BY position`, [r.key]);
            const h = await db.query<{ event_type: string; kind: string }>(`SELECT event_type, kind FROM ${s}.saga_history WHERE key = $1 ORDER BY seq`, [r.key]);
            detail.push(`${r.key} ${JSON.stringify(r.state)} events=${ev.rows.map((e) => `${e.type}@${e.c}`).join(',')} history=${h.rows.map((x) => `${x.event_type}:${x.kind}`).join(',')}`);
          }
          const leases = await db.query(`SELECT name, owner, epoch, expires_at > now() AS live FROM ${s}.leases ORDER BY name`);
          const cps = await db.query(`SELECT name, cursor FROM ${s}.checkpoints ORDER BY name`);
          throw new Error(`${String(err)}\nstreams without instance: ${missing.rows[0]!.n}\n${detail.join('\n')}\nleases ${JSON.stringify(leases.rows)}\ncheckpoints ${JSON.stringify(cps.rows)}`);
        });
        const fails = Array.from({ length: n }, (_, i) => i).filter(failing).length;
        expect(statuses).toEqual({ completed: n - fails, compensated: fails });
        const letters = await db.query(`SELECT event_type, error FROM ${s}.dead_letters WHERE saga_key LIKE 'chaos-%'`);
        expect(letters.rows).toEqual([]);
        const doubled = await db.query(`SELECT saga, key, event_id FROM ${s}.saga_history GROUP BY 1, 2, 3 HAVING count(*) > 1`);
        expect(doubled.rows).toEqual([]);
        // Every partition is held by exactly one live daemon (the survivors and the restarted ones).
        await until('every partition held by a live daemon', async () => {
          const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.leases WHERE name LIKE 'sagas:partition:%' AND owner IS NOT NULL AND expires_at > now()`);
          return Number(rows[0]!.n) === 16;
        }, 20_000);
        if (bus === 'memory') return;
        const redis = new Redis(redisUrl!);
        try {
          // Every command the sagas emitted reached Redis at least once (the relay, restarted and moved, resumed).
          const emitted = (await db.query<{ id: string }>(`SELECT event_id::text AS id FROM ${s}.events WHERE metadata ? 'saga' AND stream_id LIKE 'chaos-%'`)).rows.map((r) => r.id);
          expect(emitted.length).toBe(n + 2 * fails); // an assignment request each; a release request and a requeue per failure
          await until('the relay to carry every emitted command', async () => {
            const carried = new Set<string>();
            let cursor = '-';
            for (;;) {
              const page = await redis.xrange(`${prefix}:stream`, cursor, '+', 'COUNT', 5000);
              for (const [entryId, fields] of page) {
                const at = fields.indexOf('e'); // EntryField.Event
                if (at >= 0) carried.add((JSON.parse(fields[at + 1]!) as { id: string }).id);
                cursor = `(${entryId}`;
              }
              if (page.length < 5000) break;
            }
            return emitted.every((id) => carried.has(id));
          }, 60_000);
        } finally {
          redis.disconnect();
        }
      } finally {
        await db.close();
      }
    }, 400_000);
  });
}

describe.runIf(hasPostgres())('chaos', () => {
  threeDaemonsKilledAtRandom('memory', 1000);
  describe.runIf(hasRedis())('with Redis', () => threeDaemonsKilledAtRandom('redis', 2000));
});

// A daemon frozen (SIGSTOP) past its lease while the other works on: the survivor takes its partitions once
// the server has cut the frozen daemon's open transactions (idle_in_transaction_session_timeout, 10 s), and
// when the frozen daemon resumes it applies nothing for the partitions it lost (its fenced steps and
// checkpoint saves are refused), then takes its share back. Every instance ends as its replies say.
describe.runIf(hasPostgres())('a daemon paused past its lease (SIGSTOP / SIGCONT)', () => {
  const schema = uniqueSchema('e2e');
  const dirs = [0, 1].map(() => mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-stop-')));
  const daemons: DaemonProcess[] = [];
  beforeAll(async () => {
    for (const d of dirs) {
      daemons.push(await startDaemon({ DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema, SAGAFLOW_LEASE_TTL: '2s', SAGAFLOW_DATA_DIR: path.join(d, '.sagaflow') }));
    }
  }, 120_000);
  afterAll(async () => {
    for (const d of daemons) {
      d.child.kill('SIGCONT');
      await stopDaemon(d, 'SIGKILL');
    }
    await dropSchema(schema);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('changes nothing it no longer owns, and every instance ends as its replies say', async () => {
    const [active, frozen] = daemons as [DaemonProcess, DaemonProcess];
    const token = readFileSync(path.join(dirs[0]!, '.sagaflow/api-token'), 'utf8').trim();
    const db = new PgDb({ connectionString: databaseUrl! });
    const s = quoteSchema(schema);
    const owners = async () =>
      (await db.query<{ owner: string; n: string }>(
        `SELECT owner, count(*) AS n FROM ${s}.leases WHERE name LIKE 'sagas:partition:%' AND owner IS NOT NULL AND expires_at > now() GROUP BY owner`,
      )).rows;
    try {
      await until('the partitions split 8/8', async () => (await owners()).length === 2, 20_000);
      const publish = async (type: string, data: Record<string, unknown>) => {
        const r = await fetch(`${active.url}/v1/events`, {
          method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' }, body: JSON.stringify({ type, data, streamId: String(data.taskId) }),
        });
        expect(r.status).toBe(201);
      };
      const n = 300;
      let next = 0;
      const lane = async () => {
        for (let i = next++; i < n; i = next++) {
          const taskId = `stop-${i}`;
          await publish('task.created', { taskId, taskType: 'x' });
          await publish('agent.assigned', { taskId, agentId: 'a-1' });
          if (i % 2 === 0) {
            await publish('task.failed', { taskId, error: 'boom' });
            await publish('agent.released', { taskId, agentId: 'a-1' });
          } else {
            await publish('task.completed', { taskId, completedBy: 'a-1' });
          }
          await new Promise((r) => setTimeout(r, 20)); // a steady load that lasts through the pause
        }
      };
      const load = Promise.all(Array.from({ length: 4 }, lane));
      await new Promise((r) => setTimeout(r, 500));
      frozen.child.kill('SIGSTOP');
      await until('the active daemon owns every partition', async () => {
        const o = await owners();
        return o.length === 1 && Number(o[0]!.n) === 16;
      }, 25_000);
      frozen.child.kill('SIGCONT');
      await load;
      await until('the resumed daemon takes its share back', async () => (await owners()).length === 2, 20_000);
      const statuses = await until('every instance finished', async () => {
        const { rows } = await db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM ${s}.saga_instances WHERE key LIKE 'stop-%' GROUP BY status`);
        const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
        return (by.completed ?? 0) + (by.compensated ?? 0) + (by.failed ?? 0) === n ? by : undefined;
      }, 60_000);
      expect(statuses).toEqual({ completed: n / 2, compensated: n / 2 });
      expect((await db.query(`SELECT 1 FROM ${s}.dead_letters WHERE saga_key LIKE 'stop-%'`)).rows).toEqual([]);
      expect((await db.query(`SELECT saga, key, event_id FROM ${s}.saga_history GROUP BY 1, 2, 3 HAVING count(*) > 1`)).rows).toEqual([]);
      // The resumed daemon noticed it had lost its leases instead of carrying on.
      expect(frozen.lines.some((l) => l.includes('lease lost to another daemon') || l.includes('lease not renewed in time'))).toBe(true);
    } finally {
      await db.close();
    }
  }, 120_000);
});

// Issue 14: nothing secret or private in any log line. A daemon at debug level on Postgres, its Redis bus
// given a password Redis refuses, its token a canary; requests carry canary payloads, a canary token in a
// query string, data that fails, a poisoned step and a client that hangs up. Then every line it wrote is
// searched for the canaries. (Driver errors that do carry secrets, an ioredis AUTH command with its password among
// them, are provoked one by one in test/int/logger-redaction.int.test.ts.)
describe.runIf(hasPostgres() && hasRedis())('no secret or payload in the daemon log (debug level)', () => {
  const schema = uniqueSchema('e2e');
  const canary = { token: `tok${crypto.randomUUID().replace(/-/g, '')}`, redis: `pw${crypto.randomUUID().slice(0, 8)}`, payload: `payload-${crypto.randomUUID().slice(0, 8)}` };
  let dir: string;
  let flag: string;
  let daemon: DaemonProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-canary-'));
    flag = path.join(dir, 'broken');
    const redis = new URL(redisUrl!);
    redis.password = canary.redis;
    env = {
      DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema, SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow'), SAGAFLOW_LOG_LEVEL: 'debug',
      // hybrid: a Redis that refuses the password is tolerated (it falls back), so the daemon runs and logs the refusals.
      SAGAFLOW_LOG_FORMAT: 'json', SAGAFLOW_API_TOKEN: canary.token, EVENT_BUS_TYPE: 'hybrid', REDIS_URL: redis.toString(),
      REDIS_EVENT_CHANNEL_PREFIX: `sagaflow-e2e-${schema}`, SAGAFLOW_E2E_BROKEN_FLAG: flag, SAGAFLOW_SAGAS: fixtureSagas,
    };
    daemon = await startDaemon(env);
  }, 120_000);
  afterAll(async () => {
    await stopDaemon(daemon, 'SIGKILL');
    await dropSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  it('no line holds the token, the Redis password or event data, whatever failed', async () => {
    const post = (body: string, query = '') =>
      fetch(`${daemon.url}/v1/events${query}`, { method: 'POST', headers: { authorization: `Bearer ${canary.token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'e2e test' }, body });
    // Accepted events with the payload canary, one that fails its schema, one with a NUL, a reused id.
    expect((await post(JSON.stringify({ type: 'task.created', data: { taskId: `t-${canary.payload}`, taskType: canary.payload } }))).status).toBe(201);
    expect((await post(JSON.stringify({ type: 'task.created', data: { taskId: 7, taskType: canary.payload } }))).status).toBe(400);
    expect((await post(JSON.stringify({ type: 'task.created', data: { taskId: 't-x', taskType: `${canary.payload}\u0000` } }))).status).toBe(400);
    // The token in a query string (a client's mistake) and a wrong token.
    expect((await post('{}', `?token=${canary.token}`)).status).toBe(400);
    expect((await fetch(`${daemon.url}/v1/sagas?access_token=${canary.token}`)).status).toBe(401);
    // A step that throws, its event carrying the payload canary (the saga key is an identifier, and logged as one).
    const key = `f-${crypto.randomUUID().slice(0, 8)}`;
    expect((await post(JSON.stringify({ type: 'flaky.started', data: { id: key, note: canary.payload } }))).status).toBe(201);
    await until('Flaky started', async () => (await cli({ ...env, SAGAFLOW_LOG_LEVEL: 'silent' }, 'sagas', 'show', 'Flaky', key)).code === 0);
    writeFileSync(flag, 'broken');
    expect((await post(JSON.stringify({ type: 'flaky.finish', data: { id: key, note: canary.payload } }))).status).toBe(201);
    await until('the dead letter', async () => {
      const letters = await cliJson<Array<{ sagaKey?: string }>>({ ...env, SAGAFLOW_LOG_LEVEL: 'silent' }, 'dlq', 'list', '--saga', 'Flaky');
      return letters.some((l) => l.sagaKey === key);
    });
    // Give the Redis reconnect loop time to log its refused AUTH a few times.
    await new Promise((r) => setTimeout(r, 1500));
    const text = daemon.lines.join('\n');
    expect(daemon.lines.length).toBeGreaterThan(10);
    expect(text).toContain('"level":20'); // debug lines were written
    expect(text).toMatch(/AUTH/); // Redis refused the password, and that was logged (without it)
    for (const [what, value] of Object.entries(canary)) {
      expect(daemon.lines.filter((l) => l.includes(value)).map((l) => l.slice(0, 400)), `${what} canary in the daemon log`).toEqual([]);
    }
  }, 120_000);
});

describe('a Redis bus that does not answer', () => {
  it('stops the start with one line and exit 4, the password masked', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-e2e-noredis-'));
    try {
      const r = await cli({ SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow'), EVENT_BUS_TYPE: 'redis', REDIS_URL: 'redis://:secret-pw@127.0.0.1:1', SAGAFLOW_LOG_LEVEL: 'silent' }, 'run', '--port', '0');
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/^sagaflow: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 is unavailable: .*; check REDIS_URL$/);
      expect(r.stderr).not.toContain('secret-pw');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('a TypeScript sagas module, loaded by the built CLI', () => {
  // The example sagas' sources, as a user's project holds them: .ts files importing `sagaflow` (which
  // resolves, by the build directory's package.json, to the very build the CLI runs from).
  it('--sagas <dir with index.ts> loads through tsx; a module exporting no saga says what it must export', async () => {
    const dir = mkdtempSync(path.join(buildDir, 'ts-sagas-'));
    try {
      cpSync(path.join(root, 'sagas'), path.join(dir, 'sagas'), { recursive: true, filter: (f) => !f.endsWith('.test.ts') });
      const ok = await cli({ SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') }, 'graph', 'TaskProcessing', '--sagas', path.join(dir, 'sagas'));
      expect(ok.stderr).toBe('');
      expect(ok.stdout).toMatch(/^stateDiagram-v2/);
      writeFileSync(path.join(dir, 'none.ts'), 'export const answer: number = 42;\n');
      const none = await cli({ SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') }, 'graph', 'X', '--sagas', path.join(dir, 'none.ts'));
      expect(none.code).not.toBe(0);
      expect(none.stderr).toMatch(/exports no saga, handler, projection or aggregate: it must be a module whose named exports are results of defineSaga\(\), defineHandler\(\), defineProjection\(\) and defineAggregate\(\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
