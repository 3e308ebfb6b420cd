import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode, exitCodeOf } from '../../src/cli/exit-codes.js';
import { ConfigError, NotFoundError, UnavailableError, ValidationError } from '../../src/core/errors.js';
import { ApiRequestError } from '../../src/api/client.js';
import { runCli } from '../support/cli-harness.js';

// None of these reach a database: they fail (or finish) before opening one.
let dir: string;
let env: Record<string, string>;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-cli-'));
  env = { SAGAFLOW_DATA_DIR: path.join(dir, '.sagaflow') };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sagaflow config', () => {
  it('prints the resolved config with secrets redacted', async () => {
    const r = await runCli(['config', '--json'], { ...env, SAGAFLOW_API_TOKEN: 'super-secret-token-value', DATABASE_URL: 'postgres://me:pw@127.0.0.1/db', EVENT_BUS_WORKERS: '4' }, dir);
    expect(r.code).toBe(0);
    const { config } = JSON.parse(r.stdout) as { config: { http: { token: string }; database: { url: string }; bus: { workers: number } } };
    expect(config.http.token).toBe('***');
    expect(config.database.url).toBe('postgres://me:***@127.0.0.1/db');
    expect(config.bus.workers).toBe(4);
    expect(r.stdout).not.toContain('super-secret');
  });

  it('prints YAML by default and names the config file', async () => {
    writeFileSync(path.join(dir, 'sagaflow.yaml'), 'http:\n  port: 7171\n');
    const r = await runCli(['config'], env, dir);
    rmSync(path.join(dir, 'sagaflow.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# config file: .*sagaflow\.yaml/);
    expect(r.stdout).toContain('port: 7171');
  });

  it('a bad value exits 2 with one line naming key, value and accepted values', async () => {
    const r = await runCli(['config'], { ...env, EVENT_BUS_TYPE: 'kafka' }, dir);
    expect(r.code).toBe(ExitCode.BadInput);
    expect(r.stderr).toBe('sagaflow: EVENT_BUS_TYPE="kafka" is invalid: expected one of memory, redis, hybrid');
  });

  it('a config file that is a device, or too large, is refused without reading it all', async () => {
    const dev = await runCli(['config', '--config', '/dev/zero'], env, dir);
    expect([dev.code, dev.stderr]).toEqual([ExitCode.BadInput, 'sagaflow: cannot read config file /dev/zero: is not a regular file']);
    const big = path.join(dir, 'big.yaml');
    writeFileSync(big, `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
    const r = await runCli(['config', '--config', big], env, dir);
    expect([r.code, r.stderr]).toEqual([ExitCode.BadInput, `sagaflow: cannot read config file ${big}: is larger than 1048576 bytes`]);
  });

  it('a bad flag value names the flag', async () => {
    const r = await runCli(['run', '--port', 'http'], env, dir);
    expect(r.code).toBe(ExitCode.BadInput);
    expect(r.stderr).toContain('--port="http" is invalid: expected an integer from 0 to 65535');
  });
});

describe('bad input fails before any database work', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['publish bad JSON', ['publish', 'task.created', '--data', '{bad'], /^sagaflow: invalid --data JSON at \(root\): /],
    ['publish non-object JSON', ['publish', 'task.created', '--data', '[1]'], /^sagaflow: invalid --data JSON at \(root\): must be a JSON object, got an array$/],
    ['publish missing file', ['publish', 'task.created', '--data', '@nope.json'], /^sagaflow: invalid --data file at nope\.json: cannot read: ENOENT$/],
    ['publish a device as --data file', ['publish', 'task.created', '--data', '@/dev/zero'], /^sagaflow: invalid --data file at \/dev\/zero: cannot read: is not a regular file$/],
    ['publish a directory as --data file', ['publish', 'task.created', '--data', '@/tmp'], /^sagaflow: invalid --data file at \/tmp: cannot read: is not a regular file$/],
    ['publish deeply nested --data', ['publish', 'task.created', '--data', `{"taskId":"t","taskType":"r","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`], /^sagaflow: invalid .*(deeper than 64 levels|--data JSON)/],
    ['publish without --data', ['publish', 'task.created'], /required option '--data <json\|@file>' not specified/],
    ['sagas list bad status', ['sagas', 'list', '--status', 'sleeping'], /^sagaflow: invalid --status at --status: "sleeping" is not one of running, completed/],
    ['sagas list bad limit', ['sagas', 'list', '--limit', '0'], /^sagaflow: invalid --limit at --limit: "0" is not an integer from 1 to 10000$/],
    ['sagas list bad stuck', ['sagas', 'list', '--stuck', 'ages'], /^sagaflow: invalid --stuck at --stuck: "ages" is not a duration/],
    ['replay without target', ['replay'], /^sagaflow: invalid replay at arguments: give <saga> <key>, or --stuck \(not both\)$/],
    ['replay both', ['replay', 'S', 'k', '--stuck'], /give <saga> <key>, or --stuck/],
    ['replay bad age', ['replay', '--stuck', '--older-than', 'old'], /^sagaflow: invalid --older-than at --older-than: "old" is not a duration/],
    ['dlq retry both', ['dlq', 'retry', 'x', '--all'], /^sagaflow: invalid dlq retry at id: give a dead letter id or --all \(not both\)$/],
    ['dlq list bad status', ['dlq', 'list', '--status', 'gone'], /"gone" is not one of open, retried, discarded, all/],
    ['dlq discard without reason', ['dlq', 'discard', 'x'], /required option '--reason <text>' not specified/],
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['graph bad format', ['graph', 'TaskProcessing', '--format', 'png'], /^sagaflow: invalid --format at --format: "png" is not one of mermaid, json$/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const r = await runCli(args, env, dir);
      expect(r.code).toBe(ExitCode.BadInput);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('--json adds the error as JSON on stdout', async () => {
    const r = await runCli(['publish', 'task.created', '--data', '{bad', '--json'], env, dir);
    expect(r.code).toBe(ExitCode.BadInput);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'VALIDATION', details: { what: '--data JSON' } } });
  });

  it('--debug adds the stack trace', async () => {
    const r = await runCli(['publish', 'task.created', '--data', '{bad', '--debug'], env, dir);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});

describe('unreachable database', () => {
  it('exits 4 with one line naming the database (no password)', async () => {
    const r = await runCli(['sagas', 'list'], { ...env, DATABASE_URL: 'postgres://me:pw@127.0.0.1:1/nowhere' }, dir);
    expect(r.code).toBe(ExitCode.Unavailable);
    expect(r.stderr.split('\n')[0]).toMatch(/^sagaflow: cannot connect to the database at postgres:\/\/me@127\.0\.0\.1:1\/nowhere: /);
    expect(r.stderr).not.toContain('pw@');
  });
});

describe('sagaflow graph', () => {
  it('prints a Mermaid state diagram of a bundled saga', async () => {
    const r = await runCli(['graph', 'TaskProcessing'], env, dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('stateDiagram');
    expect(r.stdout).toContain('awaitingAssignment');
  });

  it('prints JSON nodes and edges', async () => {
    const r = await runCli(['graph', 'TaskProcessing', '--format', 'json'], env, dir);
    const graph = JSON.parse(r.stdout) as { nodes: Array<{ key: string }>; edges: Array<{ event: string | null }> };
    expect(graph.nodes.map((n) => n.key)).toContain('awaitingCompletion');
    expect(graph.edges.map((e) => e.event)).toContain('task.completed');
  });

  it('an unknown saga exits 3 and lists the known ones', async () => {
    const r = await runCli(['graph', 'Nope'], env, dir);
    expect(r.code).toBe(ExitCode.NotFound);
    expect(r.stderr).toBe('sagaflow: unknown saga "Nope"; known sagas: TaskProcessing, CollaborationProcessManager');
  });
});

describe('exit codes', () => {
  it('map error codes, local or from the daemon', () => {
    expect(exitCodeOf(new ValidationError('x', []))).toBe(2);
    expect(exitCodeOf(new ConfigError('x'))).toBe(2);
    expect(exitCodeOf(new NotFoundError('x', 'y'))).toBe(3);
    expect(exitCodeOf(new UnavailableError('x'))).toBe(4);
    expect(exitCodeOf(new ApiRequestError(404, 'NOT_FOUND', 'x'))).toBe(3);
    expect(exitCodeOf(new ApiRequestError(401, 'UNAUTHORIZED', 'x'))).toBe(4);
    expect(exitCodeOf(new ApiRequestError(409, 'CONCURRENCY', 'x'))).toBe(5);
    expect(exitCodeOf(new Error('boom'))).toBe(1);
  });

  it('--help and --version exit 0', async () => {
    expect((await runCli(['--help'], env, dir)).code).toBe(0);
    expect((await runCli(['--version'], env, dir)).stdout).toBe('0.1.0');
  });
});
