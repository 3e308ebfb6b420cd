import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { isHandlerDefinition, type HandlerDefinition } from '../core/worker/define-handler.js';

function isSaga(value: unknown): value is SagaDefinition {
  return typeof value === 'object' && value !== null && (value as { defined?: unknown }).defined === true && typeof (value as { name?: unknown }).name === 'string';
}

/** Every saga definition a module exports (named exports and arrays of them), each once. */
export function sagasOf(mod: Record<string, unknown>): SagaDefinition[] {
  const found = new Map<string, SagaDefinition>();
  for (const value of Object.values(mod)) {
    for (const v of Array.isArray(value) ? value : [value]) if (isSaga(v) && !found.has(v.name)) found.set(v.name, v);
  }
  return [...found.values()];
}

/** Every command handler a module exports (named exports and arrays of them), each once; two with one name are an error. */
export function handlersOf(mod: Record<string, unknown>): HandlerDefinition[] {
  const found = new Map<string, HandlerDefinition>();
  for (const value of Object.values(mod)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!isHandlerDefinition(v)) continue;
      const seen = found.get(v.name);
      if (seen && seen !== v) throw new ConfigError(`two handlers are named "${v.name}": handler names must be unique`, { key: 'sagas', value: v.name });
      found.set(v.name, v);
    }
  }
  return [...found.values()];
}

/** The bundled example sagas (`sagas/index`), next to the compiled code or the sources under tsx. */
async function bundled(): Promise<Record<string, unknown>> {
  return (await import(new URL('../../sagas/index.js', import.meta.url).href)) as Record<string, unknown>;
}

/**
 * Loads saga definitions: from `source` (a module file, or a directory holding `index.js` /
 * `index.ts`), else the bundled `sagas/`. A `.ts` module needs a TypeScript loader (`tsx`).
 */
export async function loadSagas(source: string | undefined, cwd = process.cwd()): Promise<SagaDefinition[]> {
  return (await loadSagaModule(source, cwd)).sagas;
}

/** The sagas and command handlers of a sagas module (see {@link loadSagas}). */
export async function loadSagaModule(source: string | undefined, cwd = process.cwd()): Promise<{ sagas: SagaDefinition[]; handlers: HandlerDefinition[] }> {
  let mod: Record<string, unknown>;
  if (source === undefined) {
    mod = await bundled();
  } else {
    let file = path.resolve(cwd, source);
    if (!existsSync(file)) throw new ConfigError(`sagas module ${source} does not exist`, { key: 'sagas', value: source });
    if (statSync(file).isDirectory()) {
      const candidate = ['index.js', 'index.mjs', 'index.ts'].map((f) => path.join(file, f)).find((f) => existsSync(f));
      if (!candidate) throw new ConfigError(`sagas directory ${source} has no index.js or index.ts`, { key: 'sagas', value: source });
      file = candidate;
    }
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot load sagas from ${source}: ${(err as Error).message.split('\n')[0]}`, { key: 'sagas', value: source });
    }
  }
  const sagas = sagasOf(mod);
  const handlers = handlersOf(mod);
  if (sagas.length === 0 && handlers.length === 0 && source !== undefined) {
    throw new ConfigError(`sagas module ${source} exports no saga or handler (export the results of defineSaga() and defineHandler())`, { key: 'sagas', value: source });
  }
  return { sagas, handlers };
}
