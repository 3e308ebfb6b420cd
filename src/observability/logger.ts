import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Paths pino masks in every log line: tokens, passwords, connection strings, auth headers. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'databaseUrl',
  '*.databaseUrl',
  'redisUrl',
  '*.redisUrl',
  'config.database.url',
  'config.redis.url',
  'config.http.token',
  'config.http.tokens',
] as const;

/**
 * Fields of driver errors that carry what a log must never hold: ioredis puts a failed command with its
 * arguments on the error (`AUTH <password>`), pg its `detail` ("Failing row contains (…)", with the row) and
 * `where`, PGlite the statement's `params` (event data).
 */
const LEAKY_ERROR_FIELDS = ['command', 'args', 'params', 'parameters', 'values', 'detail', 'where', 'internalQuery', 'query'] as const;

/** `scheme://user:password@host` → `scheme://user:***@host`, anywhere in a text. */
export function maskUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, '$1***@');
}

type SerializedError = Record<string, unknown> & { message?: unknown; stack?: unknown };

/** Drops the leaky fields of a serialized error (and of its causes) and masks credentials in its text. */
function scrub(e: unknown, depth = 0): unknown {
  if (e === null || typeof e !== 'object' || depth > 5) return e;
  const out: SerializedError = { ...(e as SerializedError) };
  for (const f of LEAKY_ERROR_FIELDS) if (f in out) out[f] = '***';
  // A Postgres error quotes the value it refused after a colon (`invalid input syntax for type integer: "…"`).
  const mask = (t: string) => (typeof out.severity === 'string' ? maskUrlCredentials(t).replace(/: "(?:[^"\\]|\\.)*"/g, ': "***"') : maskUrlCredentials(t));
  if (typeof out.message === 'string') out.message = mask(out.message);
  if (typeof out.stack === 'string') out.stack = mask(out.stack);
  if (out.cause !== undefined) out.cause = scrub(out.cause, depth + 1);
  if (Array.isArray(out.errors)) out.errors = out.errors.map((x) => scrub(x, depth + 1));
  return out;
}

/** pino's error serializer, then {@link scrub}: what every logged `err` goes through. */
export function serializeError(err: unknown): unknown {
  return scrub(err instanceof Error ? pino.stdSerializers.err(err) : err);
}

/** Every `Error` among a log object's values (and their values) through {@link serializeError}. */
function scrubErrorsIn(object: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(object)) {
    let next: unknown = v;
    if (v instanceof Error) next = serializeError(v);
    else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.values(v).some((x) => x instanceof Error)) {
      next = Object.fromEntries(Object.entries(v).map(([kk, x]) => [kk, x instanceof Error ? serializeError(x) : x]));
    }
    if (next !== v) (out ??= { ...object })[k] = next;
  }
  return out ?? object;
}

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
  /** `auto`: pretty on a terminal, JSON otherwise. @default 'auto' */
  format?: 'auto' | 'pretty' | 'json';
  /** Where lines go. @default process.stderr for pretty, process.stdout for JSON */
  destination?: NodeJS.WritableStream;
  /** Whether the destination is a terminal (for `auto`). @default destination.isTTY */
  isTTY?: boolean;
  name?: string;
}

/**
 * The daemon's logger: pino, pretty on a terminal (via pino-pretty, in-process so lines are not
 * lost on exit), JSON lines otherwise; secrets redacted: configured paths ({@link REDACT_PATHS}), and in
 * errors the drivers' command arguments, row details and query parameters, and credentials in URLs.
 *
 * @example
 * const logger = createLogger({ level: 'debug' });
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'auto';
  const destination = options.destination ?? process.stdout;
  const tty = options.isTTY ?? Boolean((destination as NodeJS.WriteStream).isTTY);
  const base = {
    name: options.name ?? 'sagaflow',
    level: options.level ?? 'info',
    redact: { paths: [...REDACT_PATHS], censor: '***' },
    serializers: { err: serializeError, error: serializeError },
    // An error logged under any other key (`{ cause }`, `{ e }`, one level down) is scrubbed the same way.
    formatters: { log: scrubErrorsIn },
  };
  if (format === 'pretty' || (format === 'auto' && tty)) {
    const stream = pretty({ colorize: tty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', sync: true, destination });
    return pino(base, stream);
  }
  return pino(base, destination);
}

/** A logger that drops everything (library default). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
