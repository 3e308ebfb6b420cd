import type { Command } from 'commander';
import type { MigrateBatchResult, OperatorApi, SagaVersionSummary } from '../../app/operator-api.js';
import { ExitCode } from '../exit-codes.js';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json, table, type TableOutput } from '../output.js';
import { parseLimit } from '../parse-input.js';
import { progress } from '../progress.js';

/** The per-version table of `sagas versions` and `status`. */
export function versionsTable(rows: readonly SagaVersionSummary[], out: TableOutput): string {
  if (rows.length === 0) return 'no sagas';
  return table(
    ['saga', 'version', 'loaded', 'instances', 'open', 'by status', 'migrates from'],
    rows.map((r) => [
      r.saga, `v${r.version}${r.newest ? ' (new instances)' : ''}`, r.loaded ? 'yes' : 'NO', r.instances, r.open,
      Object.entries(r.byStatus).map(([s, n]) => `${s} ${n}`).join(', '), r.migratesFrom.map((v) => `v${v}`).join(', '),
    ]),
    out,
  );
}

interface MigrateOptions {
  from: string;
  to: string;
  dryRun?: boolean;
  batchSize?: string;
  reason?: string;
}

/** What a whole `sagas migrate` run did: its batches summed. */
type MigrateRun = Omit<MigrateBatchResult, 'next'>;

/** Calls `migrateSagas` batch after batch until the last one, ticking the bar and showing each failure as it comes. */
async function runMigration(api: OperatorApi, ctx: CliContext, saga: string, request: { from: number; to: number; dryRun: boolean; batchSize?: number }, quiet: boolean): Promise<MigrateRun> {
  const open = (await api.sagaVersions(saga)).find((v) => v.version === request.from)?.open ?? 0;
  const bar = progress(ctx.output, open, request.dryRun ? `checking ${saga} v${request.from}` : `migrating ${saga} v${request.from} → v${request.to}`);
  const run: MigrateRun = { saga, from: request.from, to: request.to, dryRun: request.dryRun, read: 0, moved: 0, failed: [] };
  try {
    let after: string | undefined;
    do {
      const r: MigrateBatchResult = await api.migrateSagas({ saga, ...request, ...(after !== undefined ? { after } : {}) });
      run.read += r.read;
      run.moved += r.moved;
      run.failed.push(...r.failed);
      if (!quiet) for (const f of r.failed) ctx.output.err(`${saga} ${f.key}: not migrated: ${f.error.message}`);
      bar.tick(r.read);
      after = r.next;
    } while (after !== undefined);
  } finally {
    bar.stop();
  }
  return run;
}

/** `sagaflow sagas versions` and `sagaflow sagas migrate` (on the `sagas` command). */
export function sagaVersionCommands(sagas: Command, ctx: CliContext, onExit: (code: number) => void): void {
  sagas
    .command('versions')
    .description('instances per saga version: which versions are loaded, how many instances each still runs, what each migrates from')
    .argument('[saga]', 'only this saga')
    .action(async (saga: string | undefined, _o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const rows = await withOperator(opts, ctx, (api) => api.sagaVersions(saga));
      ctx.output.out(opts.json ? json(rows) : versionsTable(rows, ctx.output));
    });

  sagas
    .command('migrate')
    .description("move a saga's unfinished instances from one version to another through the newer version's migrateFrom (in batches; a failed transform leaves its instance as it is)")
    .argument('<saga>')
    .requiredOption('--from <version>', 'the version the instances run on')
    .requiredOption('--to <version>', 'a loaded version that declares migrateFrom for --from')
    .option('--dry-run', 'run the transforms and checks, change nothing')
    .option('--batch-size <n>', 'instances per batch, each batch one transaction (default 500, at most 10000)')
    .addOption(reasonOption())
    .action(async (saga: string, o: MigrateOptions, cmd: Command) => {
      const opts = globals(cmd);
      const from = parseLimit('--from', o.from, 1_000_000)!;
      const to = parseLimit('--to', o.to, 1_000_000)!;
      const batchSize = parseLimit('--batch-size', o.batchSize, 10_000);
      const dryRun = o.dryRun ?? false;
      const run = await withOperator(opts, ctx, (api) => runMigration(api, ctx, saga, { from, to, dryRun, ...(batchSize ? { batchSize } : {}) }, opts.json === true), withReason(o));
      if (opts.json) ctx.output.out(json(run));
      else {
        const verb = dryRun ? 'would move' : 'moved';
        ctx.output.out(`${saga}: ${verb} ${run.moved} of ${run.read} unfinished v${from} instance(s) to v${to}${dryRun ? ' (dry run: nothing changed)' : ''}`);
        if (run.failed.length > 0) {
          ctx.output.out(`${run.failed.length} instance(s) ${dryRun ? 'would stay' : 'stay'} on v${from}:`);
          ctx.output.out(run.failed.map((f) => `  ${f.key}: ${f.error.message}`).join('\n'));
        }
      }
      // Some instances did not move: a non-zero exit for scripts, after the report.
      if (run.failed.length > 0) onExit(ExitCode.Conflict);
    });
}
