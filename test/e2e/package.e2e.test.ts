import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgDb } from '../../src/postgres/pg-db.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { databaseUrl, hasPostgres, uniqueSchema } from '../support/services.js';

/**
 * sagaflow as a user gets it: the package packed (`npm pack`), installed into a new project outside the
 * repository, `sagaflow init` run there, its test passed; then the project's TypeScript saga run by the
 * installed CLI's daemon (on PGlite and on Postgres) with the payments worker in processes of its own
 * (`sagaflow/worker`, over HTTP): an order confirmed, an order cancelled, and a command whose worker was
 * killed mid-command redelivered to another worker.
 */
const root = path.resolve(import.meta.dirname, '../..');
let project: string;
let tarball: string;

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeout = 240_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stdout?.slice(-2000)}\n${r.stderr?.slice(-2000)}`);
  return r.stdout;
}

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/** A process of the project (daemon or worker) whose output is kept. */
function start(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, { cwd: project, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

const stopped = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

beforeAll(() => {
  // The package as published: built, then packed with what `files` ships.
  run('npm', ['run', 'build'], root);
  const packDir = mkdtempSync(path.join(tmpdir(), 'sagaflow-pack-'));
  run('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], root);
  tarball = path.join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!);
  project = mkdtempSync(path.join(tmpdir(), 'sagaflow-project-'));
  run('npm', ['init', '-y'], project);
  // Only sagaflow: its peers (xstate, zod) come with it, as docs/project.md says.
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], project);
}, 400_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
  if (tarball) rmSync(path.dirname(tarball), { recursive: true, force: true });
});

describe('sagaflow installed in a project of its own', () => {
  it('sagaflow init scaffolds a project whose own test passes', () => {
    const out = run(process.execPath, ['node_modules/sagaflow/bin/sagaflow.js', 'init'], project);
    expect(out).toContain('sagas/order/order.test.ts');
    const pkg = JSON.parse(readFileSync(path.join(project, 'package.json'), 'utf8')) as { type?: string; scripts: Record<string, string> };
    expect(pkg.type).toBe('module');
    expect(pkg.scripts.test).toContain('order.test.ts');
    const test = run('npm', ['test'], project);
    expect(test).toMatch(/# pass 3/);
    expect(test).toMatch(/# fail 0/);
  });

  const daemonSuite = (store: 'pglite' | 'postgres') => {
    const token = `e2e-token-${Math.random().toString(36).slice(2)}-padding`;
    const schema = uniqueSchema('pack');
    let daemon: ReturnType<typeof start>;
    let url: string;
    const env = {
      SAGAFLOW_API_TOKEN: token, SAGAFLOW_HTTP_PORT: '0', SAGAFLOW_LOG_FORMAT: 'json', SAGAFLOW_DATA_DIR: path.join(tmpdir(), `sagaflow-pack-data-${schema}`),
      ...(store === 'postgres' ? { DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema } : {}),
    };
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await fetch(`${url}${route}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'test' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, body: (await res.json()) as { instance?: { state: unknown; status: string } } };
    };
    const stateOf = async (key: string) => (await api('GET', `/v1/sagas/Order/${key}`)).body.instance;

    beforeAll(async () => {
      // The saga module without the in-process worker: the payments worker runs remotely below.
      writeFileSync(path.join(project, 'sagas/index.ts'), `export { OrderSaga } from './order/index.js';\n`);
      // A remote worker that, when told to, hangs on orders named hang-* (it is killed while it holds one).
      writeFileSync(
        path.join(project, 'remote-worker.ts'),
        `import { writeFileSync } from 'node:fs';
import { createWorker, defineHandler } from 'sagaflow/worker';
import { payments } from './sagas/order/payments.js';
const hang = process.env.HANG === '1';
const handler = defineHandler({
  name: 'payments', handles: 'payment.requested', timeoutMs: 2000,
  handle: async (command, ctx) => {
    if (hang && String(command.data.orderId).startsWith('hang-')) {
      writeFileSync('holding-' + command.data.orderId, String(ctx.attempt));
      await new Promise(() => {});
    }
    if (String(command.data.orderId).startsWith('hang-')) writeFileSync('answered-' + command.data.orderId, String(ctx.attempt));
    return payments.handle(command as never, ctx);
  },
});
const worker = createWorker({ url: process.env.SAGAFLOW_URL!, token: process.env.SAGAFLOW_API_TOKEN!, handlers: [handler], waitMs: 1000 });
await worker.start();
console.log('worker ready');
process.on('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
`,
      );
      daemon = start(['node_modules/sagaflow/bin/sagaflow.js', 'run'], env);
      url = await waitFor('the daemon to listen', async () => /listening on (http:\/\/[^"\s]+)/.exec(daemon.output())?.[1], 60_000);
    }, 90_000);

    afterAll(async () => {
      daemon?.child.kill('SIGTERM');
      if (daemon) await stopped(daemon.child);
      rmSync(env.SAGAFLOW_DATA_DIR, { recursive: true, force: true });
      if (store === 'postgres') {
        const db = new PgDb({ connectionString: databaseUrl!, max: 1 });
        await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
        await db.close();
      }
    });

    it('serves the dashboard from the installed package (its static files ship in dist/)', async () => {
      for (const file of ['', 'app.js', 'graph.js', 'style.css']) expect((await fetch(`${url}/ui/${file}`)).status).toBe(200);
    });

    it('runs the TypeScript saga with a remote worker: one order confirmed, one cancelled (payment declined)', async () => {
      const worker = start(['--import', 'tsx', 'remote-worker.ts'], { ...env, SAGAFLOW_URL: url });
      try {
        await waitFor('the worker', async () => worker.output().includes('worker ready'));
        expect((await api('POST', '/v1/events', { type: 'order.placed', data: { orderId: 'ok-1', amount: 20 } })).status).toBe(201);
        expect((await api('POST', '/v1/events', { type: 'order.placed', data: { orderId: 'big-1', amount: 5000 } })).status).toBe(201);
        expect(await waitFor('ok-1 confirmed', async () => (await stateOf('ok-1'))?.state === 'confirmed' && (await stateOf('ok-1')))).toMatchObject({ status: 'completed' });
        expect(await waitFor('big-1 cancelled', async () => (await stateOf('big-1'))?.state === 'cancelled' && (await stateOf('big-1')))).toMatchObject({ status: 'compensated' });
      } finally {
        worker.child.kill('SIGTERM');
        await stopped(worker.child);
      }
    });

    it('gives the command of a worker killed mid-command to another worker', async () => {
      const doomed = start(['--import', 'tsx', 'remote-worker.ts'], { ...env, SAGAFLOW_URL: url, HANG: '1' });
      await waitFor('the doomed worker', async () => doomed.output().includes('worker ready'));
      const key = `hang-${store}`;
      await api('POST', '/v1/events', { type: 'order.placed', data: { orderId: key, amount: 20 } });
      await waitFor('the doomed worker to hold the command', async () => existsSync(path.join(project, `holding-${key}`)));
      doomed.child.kill('SIGKILL');
      await stopped(doomed.child);
      const survivor = start(['--import', 'tsx', 'remote-worker.ts'], { ...env, SAGAFLOW_URL: url });
      try {
        expect(await waitFor(`${key} confirmed`, async () => (await stateOf(key))?.state === 'confirmed' && (await stateOf(key)), 40_000)).toMatchObject({ status: 'completed' });
        expect(readFileSync(path.join(project, `answered-${key}`), 'utf8')).toBe('2');
      } finally {
        survivor.child.kill('SIGTERM');
        await stopped(survivor.child);
      }
    }, 90_000);
  };

  describe('on PGlite (the embedded default)', () => daemonSuite('pglite'));
  describe.runIf(hasPostgres())('on Postgres', () => daemonSuite('postgres'));
});
