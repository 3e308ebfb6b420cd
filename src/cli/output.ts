import Table from 'cli-table3';
import { formatDuration } from '../config/duration.js';

/** Where a command writes; injected so tests capture output. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal (colours, progress bars). */
  isTTY: boolean;
  /** The width tables are fitted to (the terminal's); undefined: no limit (a pipe, or `--wide`). */
  columns?: number | undefined;
}

export const processOutput: Output = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  get columns() {
    return process.stdout.isTTY ? process.stdout.columns : undefined;
  },
};

/** What a table needs of the output. */
export type TableOutput = { isTTY: boolean; columns?: number | undefined };

/** The widest line of a cell. */
const cellWidth = (text: string) => Math.max(0, ...text.split('\n').map((l) => [...l].length));

/**
 * Column widths that fit `width` (borders and padding included): columns narrower than their fair share keep
 * their width, the rest share what is left equally (at least 8 characters each). Undefined when the table
 * fits as it is.
 */
export function fitColumns(natural: readonly number[], width: number): number[] | undefined {
  const overhead = natural.length * 3 + 1; // "│ " + " " per column, and the last border
  if (natural.reduce((a, b) => a + b, 0) + overhead <= width) return undefined;
  let available = Math.max(natural.length * 8, width - overhead);
  const widths: Array<number | undefined> = natural.map(() => undefined);
  let open = natural.map((_, i) => i);
  for (;;) {
    const share = Math.floor(available / open.length);
    const fits = open.filter((i) => natural[i]! <= share);
    if (fits.length === 0) {
      for (const i of open) widths[i] = Math.max(8, share);
      break;
    }
    for (const i of fits) {
      widths[i] = natural[i]!;
      available -= natural[i]!;
    }
    open = open.filter((i) => !fits.includes(i));
    if (open.length === 0) break;
  }
  return widths.map((w) => w! + 2);
}

/**
 * A plain table (no colours when not on a terminal, so output stays greppable), fitted to `out.columns`:
 * wide cells (JSON states, effects, errors) wrap inside their column instead of stretching the row.
 */
export function table(head: string[], rows: Array<Array<string | number | undefined>>, out: TableOutput): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))));
  const natural = head.map((h, i) => Math.max(cellWidth(h), ...cells.map((r) => cellWidth(r[i] ?? ''))));
  const colWidths = out.columns === undefined ? undefined : fitColumns(natural, out.columns);
  const t = new Table({
    head,
    style: out.isTTY ? {} : { head: [], border: [] },
    wordWrap: true,
    ...(colWidths ? { colWidths, wrapOnWordBoundary: false } : {}),
  });
  for (const r of cells) t.push(r);
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
