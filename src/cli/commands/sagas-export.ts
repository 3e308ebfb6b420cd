import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { globals, type CliContext } from '../context.js';
import { withDatabase } from '../direct-database.js';

interface ExportOptions {
  saga?: string[];
  out?: string;
}

/** Writes lines to a file, waiting for the stream to drain (an export can be large). */
async function toFile(file: string, lines: AsyncIterable<string>): Promise<void> {
  const stream = createWriteStream(file, { encoding: 'utf8' });
  const failed = new Promise<never>((_, reject) => stream.once('error', reject));
  for await (const line of lines) {
    if (!stream.write(`${line}\n`)) await Promise.race([new Promise<void>((r) => stream.once('drain', () => r())), failed]);
  }
  await Promise.race([new Promise<void>((r) => stream.end(() => r())), failed]);
}

/**
 * `sagaflow sagas export [--saga NAME]... [--out FILE]`: every stored instance with its history, causes, emitted
 * events and timers, as JSON lines (`src/app/saga-export-format.ts`), for `sagaflow verify --from`.
 */
export function sagasExportCommand(sagas: Command, ctx: CliContext): void {
  sagas
    .command('export')
    .description('write stored instances with their full histories as JSON lines (input of `sagaflow verify --from`)')
    .option('--saga <name>', 'only this saga (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--out <file>', 'write to this file (default: stdout)')
    .action(async (o: ExportOptions, cmd: Command) => {
      const opts = globals(cmd);
      const [{ exportSagaInstances }, { exportHeader }] = await Promise.all([import('../../postgres/saga-export.js'), import('../../app/saga-export-format.js')]);
      const count = await withDatabase(opts, ctx, async (db, schema) => {
        let n = 0;
        async function* lines(): AsyncGenerator<string> {
          yield JSON.stringify(exportHeader(o.saga ?? [], new Date()));
          for await (const instance of exportSagaInstances(db, { schema, ...(o.saga ? { sagas: o.saga } : {}) })) {
            n++;
            yield JSON.stringify(instance);
          }
        }
        if (o.out) await toFile(path.resolve(ctx.cwd, o.out), lines());
        else for await (const line of lines()) ctx.output.out(line);
        return n;
      });
      if (o.out) ctx.output.err(`exported ${count} instance(s) to ${o.out}`);
    });
}
