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
] as const;

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
 * lost on exit), JSON lines otherwise; secrets redacted.
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
