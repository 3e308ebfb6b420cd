/**
 * `npm run bench [-- [--quick] [--markdown] [name ...]]`
 *
 * Discovers `bench/*.bench.ts`, runs them one after another (only those whose file name contains one
 * of the given names, when any are given) and prints every figure beside the baseline measured in the
 * same run, as a ratio. Services are read from SAGAFLOW_BENCH_DATABASE_URL / SAGAFLOW_TEST_DATABASE_URL
 * and SAGAFLOW_BENCH_REDIS_URL / SAGAFLOW_TEST_REDIS_URL (defaults on 127.0.0.1); any other host is refused.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Table from 'cli-table3';
import type { BenchContext, BenchModule, BenchResult } from './types.js';

/** A result may carry an absolute target on `value` (e.g. catch-up ≥ 200k events/s) beside the ratio goal. */
type Result = BenchResult;

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const localHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

interface Args {
  quick: boolean;
  markdown: boolean;
  filters: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, markdown: false, filters: [] };
  for (const a of argv) {
    if (a === '--quick') args.quick = true;
    else if (a === '--markdown') args.markdown = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--quick] [--markdown] [name ...]\n');
      process.exit(0);
    } else if (a.startsWith('-')) fail(`unknown option ${a} (accepted: --quick, --markdown, names of bench files)`);
    else args.filters.push(a.toLowerCase());
  }
  return args;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

/** Returns the URL when its host is local; exits otherwise (benchmarks write and drop schemas). */
function localUrl(envNames: string[], fallback: string): { url: string; from: string } {
  const name = envNames.find((n) => process.env[n]);
  const url = name ? process.env[name]! : fallback;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return fail(`${name ?? 'default'} is not a URL: ${url}`);
  }
  if (!localHosts.has(host)) fail(`${name} points at host "${host}": benchmarks only run against 127.0.0.1, localhost or ::1`);
  return { url, from: name ?? 'default' };
}

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** 1234567 → "1,234,567"; 12.345 → "12.3"; 0.01234 → "0.0123". */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return Number(n.toPrecision(3)).toString();
}

function goalText(r: Result): string {
  const parts: string[] = [];
  if (r.goal !== undefined) parts.push(`≥ ${r.goal}×`);
  if (r.minValue !== undefined) parts.push(`≥ ${formatNumber(r.minValue)} ${r.unit}`);
  return parts.join(', ') || '—';
}

function verdict(r: Result): string {
  if (r.goal === undefined && r.minValue === undefined) return '—';
  const ok = (r.goal === undefined || r.ratio >= r.goal) && (r.minValue === undefined || r.value >= r.minValue);
  return ok ? 'pass' : 'short';
}

function machineLine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  // The load average says whether other work shared the machine during the run (figures are noisier then).
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return `Node ${process.version} · ${os.platform()} ${os.arch()} · ${cpus.length} CPU (${model}) · ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB · load ${load} · ${new Date().toISOString()}`;
}

function row(r: Result): string[] {
  return [r.name, `${formatNumber(r.value)} ${r.unit}`, r.baselineName, `${formatNumber(r.baseline)} ${r.unit}`, `${r.ratio.toFixed(2)}×`, goalText(r), verdict(r), r.notes ?? ''];
}

const header = ['figure', 'value', 'baseline', 'baseline value', 'ratio', 'goal', 'verdict', 'notes'];

function printTable(results: Result[]): void {
  // Plain borders and header when piped (logs, docs); colours only on a terminal.
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const table = new Table({ head: header, wordWrap: true, colWidths: [30, 18, 30, 18, 8, 22, 9, 40], ...style });
  for (const r of results) table.push(row(r));
  process.stdout.write(`${table.toString()}\n`);
}

function printMarkdown(results: Result[]): void {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const r of results) lines.push(`| ${row(r).map(esc).join(' | ')} |`);
  process.stdout.write(`\n${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const db = localUrl(['SAGAFLOW_BENCH_DATABASE_URL', 'SAGAFLOW_TEST_DATABASE_URL'], 'postgres://postgres@127.0.0.1:5432/test');
  const redis = localUrl(['SAGAFLOW_BENCH_REDIS_URL', 'SAGAFLOW_TEST_REDIS_URL'], 'redis://127.0.0.1:6379');

  const files = readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => args.filters.length === 0 || args.filters.some((name) => f.toLowerCase().includes(name)))
    .sort();
  if (files.length === 0) fail(`no bench/*.bench.ts matches ${args.filters.join(', ') || '(any)'}`);

  const [pgUp, redisUp] = await Promise.all([reachable(db.url, 5432), reachable(redis.url, 6379)]);
  process.stdout.write(`sagaflow bench${args.quick ? ' (quick)' : ''}\n${machineLine()}\n`);
  process.stdout.write(`Postgres: ${pgUp ? db.url : `unreachable at ${db.url} (figures that need it are skipped)`}\n`);
  process.stdout.write(`Redis:    ${redisUp ? redis.url : `unreachable at ${redis.url} (figures that need it are skipped)`}\n\n`);

  const results: Result[] = [];
  const failures: string[] = [];
  for (const file of files) {
    const name = file.replace(/\.bench\.ts$/, '');
    const ctx: BenchContext = {
      databaseUrl: pgUp ? db.url : undefined,
      redisUrl: redisUp ? redis.url : undefined,
      quick: args.quick,
      log: (message) => process.stdout.write(`[${name}] ${message}\n`),
    };
    const started = performance.now();
    try {
      const mod = (await import(pathToFileURL(path.join(benchDir, file)).href)) as { default?: unknown };
      if (typeof mod.default !== 'function') throw new Error(`${file} has no default export function (see bench/types.ts)`);
      const out = await (mod.default as BenchModule)(ctx);
      results.push(...(out as Result[]));
      ctx.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      failures.push(`${file}: ${message}`);
      ctx.log(`FAILED: ${message}`);
    }
  }

  process.stdout.write('\n');
  if (results.length > 0) printTable(results);
  if (args.markdown && results.length > 0) printMarkdown(results);
  const short = results.filter((r) => verdict(r) === 'short');
  if (short.length > 0) process.stdout.write(`\nshort of goal: ${short.map((r) => r.name).join('; ')}\n`);
  process.stdout.write(`load at end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.length} bench module(s) failed:\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
}

await main();
