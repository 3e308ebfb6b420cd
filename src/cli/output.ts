import Table from 'cli-table3';
import { formatDuration } from '../config/duration.js';

/** Where a command writes; injected so tests capture output. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal (colours, progress bars). */
  isTTY: boolean;
}

export const processOutput: Output = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
};

/** A plain table (no colours when not on a terminal, so output stays greppable). */
export function table(head: string[], rows: Array<Array<string | number | undefined>>, isTTY: boolean): string {
  const t = new Table({ head, style: isTTY ? {} : { head: [], border: [] }, wordWrap: true });
  for (const r of rows) t.push(r.map((c) => (c === undefined ? '' : String(c))));
  return t.toString();
}

/** `{"a":1}` → `a=1`; strings as-is, state objects as JSON. */
export function show(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** ISO time plus "(5m ago)" / "(in 5m)". */
export function when(iso: string, now = Date.now()): string {
  const t = new Date(iso).getTime();
  const d = now - t;
  return `${iso} (${d >= 0 ? `${formatDuration(d)} ago` : `in ${formatDuration(-d)}`})`;
}

/** Pretty JSON for `--json`. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
