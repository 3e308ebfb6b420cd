import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDb } from '../../src/postgres/pg-db.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { runCli } from '../support/cli-harness.js';
import { databaseUrl, hasPostgres, uniqueSchema } from '../support/services.js';

/**
 * The CLI with no daemon running: every command opens the database itself (direct mode), runs the
 * saga steps in-process and prints what happened.
 */
function directSuite(name: string, makeEnv: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>, options: { full: boolean }) {
  // Each command opens PGlite anew (seconds each on small machines): the PGlite run covers the core path only.
  // (Not registered at all on PGlite rather than skipped.)
  const full = (title: string, fn: () => Promise<void>) => {
    if (options.full) it(title, fn);
  };
  describe(`CLI direct mode on ${name}`, () => {
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;
    const cli = (...args: string[]) => runCli(args, env);
    const jsonOf = async <T>(...args: string[]): Promise<T> => {
      const r = await cli(...args, '--json');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as T;
    };

    beforeAll(async () => {
      ({ env, cleanup } = await makeEnv());
    });
    afterAll(async () => cleanup());

    full('migrate is idempotent', async () => {
      const first = await jsonOf<{ applied: string[]; current: number }>('migrate');
      expect(first.current).toBeGreaterThanOrEqual(3);
      const again = await cli('migrate');
      expect(again.stdout).toBe(`up to date (version ${first.current})`);
    });

    it('publish → show → history → why', async () => {
      const pub = await cli('publish', 'task.created', '--data', '{"taskId":"t-1","taskType":"review"}', '--stream', 'task-t-1');
      expect(pub.code).toBe(0);
      expect(pub.stdout).toMatch(/^[0-9a-f-]{36}$/);

      const shown = await cli('sagas', 'show', 'TaskProcessing', 't-1');
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain('status:    running');
      expect(shown.stdout).toContain('state:     {"active":"awaitingAssignment"}');
      // The emitted command entered the log in the step's transaction: nothing waits for a daemon to move it.
      expect(shown.stdout).toMatch(/emitted \(last 1\):\n\s+agent\.assignment\.requested [0-9a-f-]{36} → stream/);
      expect(shown.stdout).toMatch(/pending timers \(1\):/);

      expect((await cli('publish', 'agent.assigned', '--data', '{"taskId":"t-1","agentId":"a-1"}')).code).toBe(0);
      const history = await jsonOf<Array<{ eventType: string; fromState: unknown; toState: unknown; kind: string }>>('sagas', 'history', 'TaskProcessing', 't-1');
      expect(history.map((h) => [h.eventType, h.kind, h.toState])).toEqual([
        ['task.created', 'applied', { active: 'awaitingAssignment' }],
        ['agent.assigned', 'applied', { active: 'awaitingCompletion' }],
      ]);
      const table = await cli('sagas', 'history', 'TaskProcessing', 't-1');
      expect(table.stdout).toContain('{"active":"awaitingAssignment"} → {"active":"awaitingCompletion"}');

      const why = await cli('sagas', 'why', 'TaskProcessing', 't-1');
      expect(why.code).toBe(0);
      expect(why.stdout).toContain('TaskProcessing t-1 is running in state {"active":"awaitingCompletion"}');
      expect(why.stdout).toMatch(/It waits for one of: .*task\.completed.*task\.failed/);
      expect(why.stdout).toMatch(/Timer .*slaTimeout.* fires in 1[45]m/);
    });

    full('lists instances with filters', async () => {
      const all = await jsonOf<Array<{ key: string; status: string }>>('sagas', 'list', '--saga', 'TaskProcessing');
      expect(all.map((i) => i.key)).toContain('t-1');
      const done = await jsonOf<unknown[]>('sagas', 'list', '--status', 'completed');
      expect(done).toEqual([]);
      const stuck = await jsonOf<unknown[]>('sagas', 'list', '--stuck', '1h');
      expect(stuck).toEqual([]);
    });

    it('status says the CLI works on the database directly', async () => {
      const status = await jsonOf<{ mode: string; database: string; sagas: string[] }>('status');
      expect(status.mode).toBe('direct');
      expect(status.database).toBe(name === 'PGlite' ? 'pglite' : 'postgres');
      expect(status.sagas).toEqual(['TaskProcessing', 'CollaborationProcessManager']);
    });

    it('unknown saga and unknown key exit 3 with one line', async () => {
      const saga = await cli('sagas', 'show', 'Nope', 'x');
      expect(saga.code).toBe(3);
      expect(saga.stderr).toBe('sagaflow: unknown saga "Nope"; known sagas: TaskProcessing, CollaborationProcessManager');
      const key = await cli('sagas', 'why', 'TaskProcessing', 'nope');
      expect(key.code).toBe(3);
      expect(key.stderr).toBe('sagaflow: TaskProcessing instance "nope" not found');
    });

    full('rejects events the sagas do not declare, and data that fails the schema', async () => {
      const unknown = await cli('publish', 'task.creatd', '--data', '{}');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^sagaflow: unknown event type "task\.creatd"; known types: /);
      const bad = await cli('publish', 'task.created', '--data', '{"taskId":5}');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^sagaflow: invalid data of task\.created at data\.taskId: /);
      // What Postgres cannot store is bad input too (exit 2, the field named), not a database error.
      for (const data of ['{"taskId":"t-n","taskType":"a\\u0000b"}', '{"taskId":"t-n","taskType":"x\\ud800"}', '{"taskId":"t-n","taskType":"r","n":1e309}']) {
        const r = await cli('publish', 'task.created', '--data', data);
        expect([r.code, r.stderr], data).toEqual([2, expect.stringMatching(/^sagaflow: invalid --data JSON at (taskType|n): (contains|must be a finite)/)]);
      }
    });

    full('dead letters: list, show, retry after the cause is fixed, discard', async () => {
      // A reply for a task no instance knows: TaskProcessing dead-letters it (onMissing: dead-letter).
      await cli('publish', 'agent.assigned', '--data', '{"taskId":"t-2","agentId":"a-9"}');
      const open = await jsonOf<Array<{ id: string; saga: string; sagaKey: string; event: { type: string } }>>('dlq', 'list');
      const letter = open.find((l) => l.sagaKey === 't-2')!;
      expect(letter).toMatchObject({ saga: 'TaskProcessing', event: { type: 'agent.assigned' } });
      const shown = await cli('dlq', 'show', letter.id);
      expect(shown.stdout).toContain(`id:          ${letter.id}`);
      expect(shown.stdout).toContain('event:       agent.assigned');

      // Fix the cause (the task now exists), then retry: the reply applies.
      await cli('publish', 'task.created', '--data', '{"taskId":"t-2","taskType":"review"}');
      const retried = await cli('dlq', 'retry', letter.id);
      expect(retried.code).toBe(0);
      expect(retried.stdout).toBe(`retried ${letter.id} (agent.assigned)`);
      const instance = await jsonOf<{ instance: { state: unknown } }>('sagas', 'show', 'TaskProcessing', 't-2');
      expect(instance.instance.state).toEqual({ active: 'awaitingCompletion' });
      const again = await cli('dlq', 'retry', letter.id);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('is retried, not open');

      await cli('publish', 'agent.assigned', '--data', '{"taskId":"t-3","agentId":"a-9"}');
      const [other] = await jsonOf<Array<{ id: string }>>('dlq', 'list', '--saga', 'TaskProcessing');
      const discarded = await cli('dlq', 'discard', other!.id, '--reason', 'test task, never existed');
      expect(discarded.stdout).toContain('test task, never existed');
      expect(await jsonOf<unknown[]>('dlq', 'list')).toEqual([]);
      const all = await jsonOf<Array<{ status: string; note?: string }>>('dlq', 'list', '--status', 'all');
      expect(all.map((l) => l.status).sort()).toEqual(['discarded', 'retried']);
      expect((await cli('dlq', 'show', '00000000-0000-7000-8000-000000000000')).code).toBe(3);
    });

    full('events query filters by type and pages with a cursor', async () => {
      const page = await jsonOf<{ events: Array<{ type: string; cursor: string }>; next: string }>('events', 'query', '--type', 'task.*');
      expect(page.events.length).toBe(2);
      expect(new Set(page.events.map((e) => e.type))).toEqual(new Set(['task.created']));
      const first = await jsonOf<{ events: Array<{ cursor: string }> }>('events', 'query', '--limit', '1', '--after', '0.0');
      expect(first.events).toHaveLength(1);
      const after = await jsonOf<{ events: unknown[] }>('events', 'query', '--after', first.events[0]!.cursor);
      expect(after.events.length).toBeGreaterThan(2);
      const bad = await cli('events', 'query', '--after', 'nonsense');
      expect(bad.code).toBe(2);
    });

    full('events tail follows the log and stops after --count', async () => {
      const tail = await cli('events', 'tail', '--from-start', '--count', '2', '--type', 'task.created', '--interval', '50ms');
      expect(tail.code).toBe(0);
      const lines = tail.stdout.split('\n');
      expect(lines).toHaveLength(2);
      for (const l of lines) expect(l).toMatch(/#\d+ {2}task\.created {2}stream=\S+ {2}id=[0-9a-f-]{36} {2}\{.*"taskId": ?"t-\d"/);
      const json = await cli('events', 'tail', '--from-start', '--count', '1', '--json');
      expect(JSON.parse(json.stdout)).toMatchObject({ type: 'task.created', data: { taskId: 't-1' } });
    });

    it('projections: list, rebuild with the lease held here, status; events replay and prune', async () => {
      expect((await cli('publish', 'task.created', '--data', '{"taskId":"t-p","taskType":"review"}')).code).toBe(0);
      const listed = await jsonOf<Array<{ name: string; lag: number }>>('projections', 'list');
      expect(listed.map((p) => p.name)).toEqual(['task-status']);
      const rebuilt = await cli('projections', 'rebuild', 'task-status');
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.stdout).toMatch(/^rebuilt task-status: at position \d+, lag 0$/);
      const status = await jsonOf<{ lag: number; position: number; owner?: string }>('projections', 'status', 'task-status');
      expect(status.lag).toBe(0);
      expect(status.owner).toBeUndefined(); // the rebuild gave its lease back
      expect((await cli('projections', 'status', 'nope')).stderr).toBe('sagaflow: projection "nope" not found');

      const noTarget = await cli('events', 'replay');
      expect(noTarget.code).not.toBe(0);
      expect(noTarget.stderr).toContain('name exactly one target: --to-bus or --to-projection <name>');
      const optedOut = await cli('events', 'replay', '--to-projection', 'task-status');
      expect(optedOut.code).not.toBe(0);
      expect(optedOut.stderr).toContain('does not accept replays: set replay: true');
      const dry = await cli('events', 'replay', '--to-bus', '--type', 'task.*', '--dry-run');
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/^would replay \d+ events to bus/);
      const noBus = await cli('events', 'replay', '--to-bus');
      expect(noBus.code).not.toBe(0);
      expect(noBus.stderr).toContain('needs the running daemon');
      const badFrom = await cli('events', 'replay', '--to-bus', '--from', 'yesterday', '--dry-run');
      expect(badFrom.stderr).toContain('is neither a position (digits) nor an ISO-8601 time');

      const prune = await cli('events', 'prune', '--dry-run');
      expect(prune.code).toBe(0);
      expect(prune.stdout).toMatch(/^would delete 0 of 0 events that occurred before \d{4}-/);
    }, 90_000);

    full('replay fires an overdue timer', async () => {
      // slaMs 1: the SLA timer is overdue at once, and no poller runs in direct mode.
      await cli('publish', 'task.created', '--data', '{"taskId":"t-9","taskType":"review","slaMs":1}');
      const dry = await jsonOf<Array<{ actions: Array<{ kind: string; skipped?: string }> }>>('replay', 'TaskProcessing', 't-9', '--dry-run');
      expect(dry[0]!.actions.map((a) => a.kind)).toEqual(['fire-timer']);
      const text = await cli('replay', 'TaskProcessing', 't-9', '--dry-run');
      expect(text.stdout).toMatch(/TaskProcessing t-9: 1 action\(s\) \(dry run\)\n\s+would fire xstate\.after\.slaTimeout/);
      expect((await jsonOf<{ instance: { status: string } }>('sagas', 'show', 'TaskProcessing', 't-9')).instance.status).toBe('running');

      const real = await cli('replay', 'TaskProcessing', 't-9');
      expect(real.code).toBe(0);
      const after = await jsonOf<{ instance: { status: string }; timers: unknown[]; history: Array<{ eventType: string }> }>('sagas', 'show', 'TaskProcessing', 't-9');
      // No agent was assigned, so there is nothing to release: the SLA timeout ends the saga compensated.
      expect(after.instance.status).toBe('compensated');
      expect(after.history.at(-1)!.eventType).toMatch(/^xstate\.after\.slaTimeout/);
      // Idempotent: the fired timer is gone, a second replay fires nothing.
      const again = await jsonOf<Array<{ actions: Array<{ kind: string }> }>>('replay', 'TaskProcessing', 't-9');
      expect(again[0]!.actions.map((a) => a.kind)).not.toContain('fire-timer');
      const none = await cli('replay', '--stuck', '--older-than', '1h');
      expect(none.stdout).toBe('no stuck instances');
    });
  });
}

directSuite('PGlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-cli-int-'));
  return { env: { SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
}, { full: false });

describe.runIf(hasPostgres())('on Postgres', () => {
  directSuite('Postgres', async () => {
    const schema = uniqueSchema('cli');
    const dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-cli-int-'));
    return {
      env: { DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema, SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') },
      cleanup: async () => {
        const db = new PgDb({ connectionString: databaseUrl! });
        await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }, { full: true });
});
