import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * What importing each public entry point loads, seen from a fresh node process: a `module.register`
 * resolve hook appends every resolved URL to a file, and the process then adds the CommonJS modules it
 * loaded (a CJS driver's own requires never reach an ESM hook). `sagaflow` is what a saga author and
 * every worker import: it must load no driver (ADR 0009).
 */
const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-entry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Runs in node's hooks thread: record, then resolve as usual.
const hook = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + '\\n');
  return result;
}`;

const child = (entry: string) => `
import { register, createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
const file = process.env.SAGAFLOW_RESOLVED_FILE;
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { file } });
await import(${JSON.stringify(entry)});
appendFileSync(file, Object.keys(createRequire(import.meta.url).cache).map((f) => 'file://' + f + '\\n').join(''));
`;

/** Every module URL that importing `entry` resolved, in a node process running the sources under tsx. */
function loadedBy(entry: string): string[] {
  const file = path.join(dir, `${entry.replace(/\W/g, '_')}.txt`);
  const r = spawnSync(process.execPath, ['--conditions=sagaflow-source', '--import', 'tsx', '--input-type=module', '-e', child(entry)], {
    cwd: root,
    env: { ...process.env, SAGAFLOW_RESOLVED_FILE: file },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`node exited ${r.status} importing ${entry}: ${r.stderr}`);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const DRIVERS: Record<string, RegExp> = {
  pg: /\/node_modules\/pg(-[a-z]+)?\//,
  ioredis: /\/node_modules\/ioredis\//,
  '@electric-sql/pglite': /\/node_modules\/@electric-sql\/pglite\//,
  'prom-client': /\/node_modules\/prom-client\//,
  'node:http': /^node:https?$/,
  'node:net': /^node:net$/,
};

function driversIn(urls: readonly string[]): string[] {
  return Object.entries(DRIVERS)
    .filter(([, re]) => urls.some((u) => re.test(u)))
    .map(([name]) => name);
}

describe('public entry points', () => {
  it('sagaflow loads no driver: no pg, PGlite, ioredis, prom-client, node:http or node:net', () => {
    const urls = loadedBy('sagaflow');
    expect(urls.some((u) => u.endsWith('/src/index.ts'))).toBe(true);
    expect(driversIn(urls)).toEqual([]);
  });

  it('sagaflow/testing loads no driver either', () => {
    expect(driversIn(loadedBy('sagaflow/testing'))).toEqual([]);
  });

  it('sagaflow/worker (a remote worker: fetch only) loads no driver either', () => {
    expect(driversIn(loadedBy('sagaflow/worker'))).toEqual([]);
  });

  // The control: the same recording sees the drivers where they belong, so an empty list above means something.
  it('sagaflow/postgres and sagaflow/daemon do load their drivers', () => {
    expect(driversIn(loadedBy('sagaflow/postgres'))).toEqual(expect.arrayContaining(['pg', '@electric-sql/pglite']));
    expect(driversIn(loadedBy('sagaflow/daemon'))).toEqual(expect.arrayContaining(['pg', 'ioredis', 'prom-client', 'node:http']));
  });
});
