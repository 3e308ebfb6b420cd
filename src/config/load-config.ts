import { existsSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import { configFields, fieldByPath, type ConfigField } from './fields.js';
import { readTextCapped } from './read-capped.js';
import { configSchema, defaults, type SagaflowConfig } from './schema.js';

/** The largest config file read: 1 MiB. */
const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/** Where a value came from, to name it in errors. */
interface Origin {
  source: 'default' | 'file' | 'env' | 'flag';
  /** The key as the user wrote it: `EVENT_BUS_TYPE`, `events.bus.type`, `--port`. */
  key: string;
  value: unknown;
  file?: string;
}

export interface LoadConfigOptions {
  /** @default process.env */
  env?: Record<string, string | undefined>;
  /** An explicit config file (`--config`); it must exist. Without it `<cwd>/sagaflow.yaml` is read when present. */
  configPath?: string;
  /** @default process.cwd() */
  cwd?: string;
  /** Flag values keyed by config path (`http.port`), highest precedence. `undefined` = not given. */
  flags?: Record<string, unknown>;
}

/** The resolved config and where the file (if any) was read from. */
export interface LoadedConfig {
  config: SagaflowConfig;
  file: string | undefined;
}

/** Default config file name, looked up in the working directory. */
export const CONFIG_FILE_NAME = 'sagaflow.yaml';

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function getPath(source: unknown, dotted: string): unknown {
  let node = source;
  for (const p of dotted.split('.')) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, p)) return undefined;
    node = (node as Record<string, unknown>)[p];
  }
  return node;
}

function flatten(value: unknown, prefix = '', out: Array<[string, unknown]> = []): Array<[string, unknown]> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
  return out;
}

/** Masks the password of a URL, and secrets entirely, for messages and `sagaflow config`. */
export function redactValue(field: ConfigField | undefined, value: unknown): unknown {
  if (!field?.secret || value === undefined || value === null) return value;
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value) && URL.canParse(value)) {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.toString();
  }
  return '***';
}

function describe(origin: Origin): string {
  switch (origin.source) {
    case 'env':
      return origin.key;
    case 'flag':
      return `--${origin.key}`;
    case 'file':
      return `${origin.key} (in ${origin.file})`;
    default:
      return `default ${origin.key}`;
  }
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readTextCapped(file, MAX_CONFIG_FILE_BYTES);
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { file });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { file });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new ConfigError(`config file ${file} must hold a mapping (key: value), got ${Array.isArray(doc) ? 'a list' : typeof doc}`, { file });
  }
  return doc as Record<string, unknown>;
}

/** Rejects YAML keys no field knows, naming the key and the keys accepted at that level. */
function checkUnknownYamlKeys(doc: Record<string, unknown>, file: string): void {
  const leaves = new Set(configFields.map((f) => f.yaml));
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(node)) {
      const p = prefix ? `${prefix}.${k}` : k;
      if (leaves.has(p)) continue;
      const below = [...leaves].filter((l) => l.startsWith(`${p}.`));
      if (below.length > 0 && typeof v === 'object' && v !== null && !Array.isArray(v)) {
        walk(v as Record<string, unknown>, p);
        continue;
      }
      const siblings = [...new Set([...leaves].filter((l) => (prefix ? l.startsWith(`${prefix}.`) : true)).map((l) => l.slice(prefix ? prefix.length + 1 : 0).split('.')[0]))];
      const why = below.length > 0 ? `must be a mapping with keys ${below.map((l) => l.slice(p.length + 1).split('.')[0]).filter((x, i, a) => a.indexOf(x) === i).join(', ')}` : `unknown key; accepted here: ${siblings.join(', ')}`;
      throw new ConfigError(`${p} (in ${file}): ${why}`, { key: p, file });
    }
  };
  walk(doc, '');
}

const redisAddr = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

/**
 * Resolves the configuration: defaults < `sagaflow.yaml` (or `--config`) < environment < flags,
 * parsed once by the zod schema. A bad value throws {@link ConfigError} whose one-line message
 * names the key as the user wrote it, the value, and what is accepted.
 *
 * @example
 * const { config } = loadConfig({ flags: { 'http.port': '8080' } });
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const raw: Record<string, unknown> = structuredClone(defaults) as unknown as Record<string, unknown>;
  const origins = new Map<string, Origin>();
  for (const [p, v] of flatten(defaults)) origins.set(p, { source: 'default', key: p, value: v });
  origins.set('subscriptions', { source: 'default', key: 'subscriptions', value: [] });

  let file: string | undefined;
  if (options.configPath !== undefined) {
    file = path.resolve(cwd, options.configPath);
    if (!existsSync(file)) throw new ConfigError(`config file ${options.configPath} does not exist (given with --config)`, { file });
  } else if (existsSync(path.join(cwd, CONFIG_FILE_NAME))) {
    file = path.join(cwd, CONFIG_FILE_NAME);
  }
  if (file !== undefined) {
    const doc = readFile(file);
    const shown = path.relative(cwd, file) || file;
    checkUnknownYamlKeys(doc, shown);
    for (const f of configFields) {
      const v = getPath(doc, f.yaml);
      if (v === undefined || v === null) continue;
      setPath(raw, f.path, v);
      origins.set(f.path, { source: 'file', key: f.yaml, value: v, file: shown });
    }
  }

  for (const f of configFields) {
    const name = f.env.find((e) => env[e] !== undefined && env[e] !== '');
    if (name === undefined) continue;
    let v: unknown = env[name];
    if (name === 'REDIS_ADDR') {
      if (!redisAddr.test(String(v))) {
        throw new ConfigError(`REDIS_ADDR=${JSON.stringify(v)} is invalid: expected host:port such as 127.0.0.1:6379`, { key: name, value: v });
      }
      v = `redis://${String(v)}`;
    }
    setPath(raw, f.path, v);
    origins.set(f.path, { source: 'env', key: name, value: env[name] });
  }

  for (const [p, v] of Object.entries(options.flags ?? {})) {
    if (v === undefined) continue;
    const f = fieldByPath.get(p);
    if (!f) throw new ConfigError(`unknown config flag for ${p}`);
    setPath(raw, p, v);
    origins.set(p, { source: 'flag', key: f.flag ?? p, value: v });
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw toConfigError(parsed.error, origins);
  const config = parsed.data as SagaflowConfig;
  return { config: finish(config, origins), file };
}

function toConfigError(error: z.ZodError, origins: Map<string, Origin>): ConfigError {
  const issue = error.issues[0]!;
  const dotted = issue.path.map(String).join('.');
  // Longest field path that prefixes the issue path (subscriptions.0.event_type → subscriptions).
  const field = [...configFields].sort((a, b) => b.path.length - a.path.length).find((f) => dotted === f.path || dotted.startsWith(`${f.path}.`));
  const origin = field ? origins.get(field.path) : undefined;
  if (!field || !origin) return new ConfigError(`invalid config at ${dotted || '(root)'}: ${issue.message}`, { path: dotted });
  const inner = dotted.slice(field.path.length + 1);
  const shown = redactValue(field, origin.value);
  const secretNote = field.secret && typeof origin.value === 'string' && shown === '***' ? ` (${origin.value.length} characters)` : '';
  const where = inner ? ` at ${inner}` : '';
  const expected = inner ? issue.message : field.accepts;
  return new ConfigError(`${describe(origin)}=${JSON.stringify(shown)}${secretNote} is invalid${where}: expected ${expected}`, {
    key: origin.key,
    source: origin.source,
    path: field.path,
    accepts: field.accepts,
  });
}

function finish(config: SagaflowConfig, origins: Map<string, Origin>): SagaflowConfig {
  const storeType = config.store.type ?? (config.database.url ? 'postgres' : 'pglite');
  if (storeType === 'postgres' && !config.database.url) {
    const o = origins.get('store.type')!;
    throw new ConfigError(`${describe(o)}="postgres" needs a database: set DATABASE_URL (or --database-url), or use pglite`, { key: o.key });
  }
  if ((config.bus.type === 'redis' || config.bus.type === 'hybrid') && !config.redis.url) {
    const o = origins.get('bus.type')!;
    throw new ConfigError(`${describe(o)}="${config.bus.type}" needs Redis: set REDIS_URL or REDIS_ADDR (or events.redis.url)`, { key: o.key });
  }
  return { ...config, store: { ...config.store, type: storeType } };
}

/** The config with secrets masked (database and Redis passwords, the API token), for display. */
export function redactConfig(config: SagaflowConfig): Record<string, unknown> {
  const copy = structuredClone(config) as unknown as Record<string, unknown>;
  for (const f of configFields) {
    if (!f.secret) continue;
    const v = getPath(copy, f.path);
    if (v !== undefined) setPath(copy, f.path, redactValue(f, v));
  }
  return copy;
}
