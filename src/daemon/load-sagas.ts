import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import type { SagaQueries } from '../core/ports/saga-store.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { combineVersions } from '../core/saga/versions.js';
import { isHandlerDefinition, type HandlerDefinition } from '../core/worker/define-handler.js';
import { isProjectionDefinition, type ProjectionDefinition } from '../core/sourcing/projection.js';
import { isAggregateDefinition, type AnyAggregateDefinition } from '../core/sourcing/aggregate.js';

function isSaga(value: unknown): value is SagaDefinition {
  return typeof value === 'object' && value !== null && (value as { defined?: unknown }).defined === true && typeof (value as { name?: unknown }).name === 'string';
}

/**
 * Every saga a module exports (named exports and arrays of them), each once: the versions of one saga name
 * (`defineSaga({ name, version: 2, ... })` next to version 1) combined into one definition that runs them
 * side by side (see `combineVersions`).
 */
export function sagasOf(mod: Record<string, unknown>): SagaDefinition[] {
  const found: SagaDefinition[] = [];
  for (const value of Object.values(mod)) {
    for (const v of Array.isArray(value) ? value : [value]) if (isSaga(v)) found.push(v);
  }
  return combineVersions(found);
}

/** The definitions of one kind a module exports (named exports and arrays of them), each once; two with one name (`nameOf`) are an error. */
function uniqueOf<T>(mod: Record<string, unknown>, is: (v: unknown) => v is T, kind: string, nameOf: (v: T) => string): T[] {
  const found = new Map<string, T>();
  for (const value of Object.values(mod)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!is(v)) continue;
      const name = nameOf(v);
      const seen = found.get(name);
      if (seen && seen !== v) throw new ConfigError(`two ${kind}s are named "${name}": ${kind} names must be unique`, { key: 'sagas', value: name });
      found.set(name, v);
    }
  }
  return [...found.values()];
}

/** Every command handler a module exports, each once; two with one name are an error. */
export function handlersOf(mod: Record<string, unknown>): HandlerDefinition[] {
  return uniqueOf(mod, isHandlerDefinition, 'handler', (h) => h.name);
}

/** Every projection a module exports, each once; two with one name are an error. */
export function projectionsOf(mod: Record<string, unknown>): ProjectionDefinition[] {
  return uniqueOf(mod, isProjectionDefinition, 'projection', (p) => p.name);
}

/** Every aggregate a module exports, each once; two of one type are an error. */
export function aggregatesOf(mod: Record<string, unknown>): AnyAggregateDefinition[] {
  return uniqueOf(mod, isAggregateDefinition, 'aggregate', (a) => a.type);
}

/** The bundled example sagas (`sagas/index`), next to the compiled code or the sources under tsx. */
async function bundled(): Promise<Record<string, unknown>> {
  return (await import(new URL('../../sagas/index.js', import.meta.url).href)) as Record<string, unknown>;
}

/** What a sagas module must look like, for the errors that say it did not. */
const SAGAS_MODULE_SHAPE = 'a module whose named exports are results of defineSaga(), defineHandler(), defineProjection() and defineAggregate() (or arrays of them)';

const TYPESCRIPT = /\.[mc]?ts$/;
let tsxRegistered = false;

/**
 * Lets `import()` load TypeScript: tsx's ESM loader, registered once for the process (its global
 * `register()`, not the namespaced `tsImport()`, so a module the sagas import — `sagaflow` itself — is
 * one instance shared with the daemon, not a second copy whose classes fail `instanceof`).
 */
async function registerTypeScript(source: string): Promise<void> {
  if (tsxRegistered) return;
  try {
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
  } catch (err) {
    throw new ConfigError(`cannot load the TypeScript sagas module ${source}: the tsx loader failed to start (${(err as Error).message.split('\n')[0]}); compile it to JavaScript and point sagas at the .js file`, {
      key: 'sagas',
      value: source,
    });
  }
}

/** The module file `source` names: itself, or a directory's `index.js` / `index.mjs` / `index.ts` / `index.mts`. */
function moduleFile(source: string, cwd: string): string {
  const file = path.resolve(cwd, source);
  if (!existsSync(file)) throw new ConfigError(`sagas module ${source} does not exist (resolved to ${file})`, { key: 'sagas', value: source });
  if (!statSync(file).isDirectory()) return file;
  const candidate = ['index.js', 'index.mjs', 'index.ts', 'index.mts'].map((f) => path.join(file, f)).find((f) => existsSync(f));
  if (!candidate) throw new ConfigError(`sagas directory ${source} has no index.js, index.mjs, index.ts or index.mts`, { key: 'sagas', value: source });
  return candidate;
}

/**
 * Loads saga definitions: from `source` (a module file, or a directory holding `index.js` /
 * `index.ts`), else the bundled `sagas/`. A TypeScript module (`.ts`, `.mts`, `.cts`) is loaded through
 * tsx, so the built CLI runs `--sagas ./sagas/index.ts` without a build step.
 */
export async function loadSagas(source: string | undefined, cwd = process.cwd()): Promise<SagaDefinition[]> {
  return (await loadSagaModule(source, cwd)).sagas;
}

/** What a sagas module defines. */
export interface SagaModule {
  sagas: SagaDefinition[];
  handlers: HandlerDefinition[];
  projections: ProjectionDefinition[];
  /** Aggregates: the daemon registers their event types and retention keeps their streams. */
  aggregates: AnyAggregateDefinition[];
}

/**
 * The sagas, command handlers and projections of a sagas module (see {@link loadSagas}); of the bundled
 * examples, the sagas and the projection (their example workers run with `sagaflow run --demo`).
 */
export async function loadSagaModule(source: string | undefined, cwd = process.cwd()): Promise<SagaModule> {
  if (source === undefined) {
    const mod = await bundled();
    return { sagas: sagasOf(mod), handlers: [], projections: projectionsOf(mod), aggregates: aggregatesOf(mod) };
  }
  const file = moduleFile(source, cwd);
  if (TYPESCRIPT.test(file)) await registerTypeScript(source);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const why = (err as Error).message.split('\n')[0] ?? String(err);
    // tsx compiles a .ts file outside a `"type": "module"` package to CommonJS, which then fails to load as such.
    const hint = TYPESCRIPT.test(file) && /require\(\)/.test(why) ? '; a .ts module loads as ESM inside a package with "type": "module", or name it .mts' : '';
    throw new ConfigError(`cannot load sagas from ${source}: ${why}${hint} (sagas must be ${SAGAS_MODULE_SHAPE})`, {
      key: 'sagas',
      value: source,
    });
  }
  const sagas = sagasOf(mod);
  const handlers = handlersOf(mod);
  const projections = projectionsOf(mod);
  const aggregates = aggregatesOf(mod);
  if (sagas.length === 0 && handlers.length === 0 && projections.length === 0 && aggregates.length === 0) {
    throw new ConfigError(`sagas module ${source} exports no saga, handler, projection or aggregate: it must be ${SAGAS_MODULE_SHAPE}, e.g. export const Checkout = defineSaga({ ... })`, { key: 'sagas', value: source });
  }
  return { sagas, handlers, projections, aggregates };
}

/**
 * Holds the loaded sagas against the instances the database already has. Without a configured sagas
 * module the bundled examples load — but not over a database that holds instances of other sagas: that
 * is someone's deployment started without its `sagas` setting, and running the examples there would
 * quietly leave its instances unserved (a ConfigError naming them instead). With a configured module,
 * the stored sagas it does not define are returned for the caller to warn about.
 */
export async function checkStoredSagas(queries: Pick<SagaQueries, 'sagaNames'>, loaded: readonly SagaDefinition[], configured: boolean): Promise<string[]> {
  const names = new Set(loaded.map((s) => s.name));
  const missing = (await queries.sagaNames()).filter((n) => !names.has(n));
  if (missing.length > 0 && !configured) {
    throw new ConfigError(
      `the database holds instances of ${missing.join(', ')}, which the bundled example sagas do not define, and no sagas module is configured: ` +
        `set sagas: in sagaflow.yaml, SAGAFLOW_SAGAS or --sagas to the module that defines them`,
      { key: 'sagas', sagas: missing },
    );
  }
  return missing;
}
