import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ExportedInstance } from '../../app/saga-export-format.js';
import type { VerifyInstanceResult, VerifySummary } from '../../app/verify.js';
import { ValidationError } from '../../core/errors.js';
import { globals, resolveConfig, type CliContext } from '../context.js';
import { withDatabase } from '../direct-database.js';
import { ExitCode } from '../exit-codes.js';
import { json, show, table, type TableOutput } from '../output.js';

interface VerifyOptions {
  sagas?: string;
  from?: string;
  saga?: string[];
  all?: boolean;
}

function where(r: VerifyInstanceResult): string {
  const d = r.divergence && { ...r.divergence, message: r.divergence.message.replace(/^step \d+ \([^)]*\): /, '') };
  if (r.migrationError) return r.migrationError;
  if (!d) return r.outcome === 'needs-migration' ? `no v${r.storedVersion} loaded; replays through v${r.replayedWith} without divergence` : '';
  return r.outcome === 'needs-migration' ? `no v${r.storedVersion} loaded; through v${r.replayedWith}: ${d.kind}: ${d.message}` : `${d.kind}: ${d.message}`;
}

function report(results: VerifyInstanceResult[], summary: VerifySummary, out: TableOutput): string {
  const counts = Object.entries(summary.byOutcome).filter(([, n]) => n > 0).map(([o, n]) => `${n} ${o}`).join(', ');
  const head = `${summary.instances} instance(s) verified: ${counts || 'none'} — ${summary.ok ? 'safe to deploy' : 'NOT safe to deploy'}`;
  if (results.length === 0) return head;
  const rows = results.map((r) => [r.saga, r.key, r.status, `v${r.storedVersion}`, r.outcome, r.divergence?.step ? `${r.divergence.step} ${show(r.divergence.eventType)}` : '', where(r)]);
  return `${table(['saga', 'key', 'status', 'stored', 'outcome', 'step', 'where / why'], rows, out)}\n${head}`;
}

async function* fromFile(file: string, sagas: readonly string[] | undefined): AsyncGenerator<ExportedInstance> {
  const { readExport } = await import('../../app/saga-export-format.js');
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const i of readExport(lines, path.basename(file))) if (!sagas || sagas.includes(i.saga)) yield i;
}

/**
 * `sagaflow verify [--sagas MODULE] [--from EXPORT] [--saga NAME]... [--all] [--json]`: replays the stored
 * histories through the sagas about to be deployed; exit code 6 when an instance would not carry on as stored.
 */
export function verifyCommand(program: Command, ctx: CliContext, onExit: (code: number) => void): void {
  program
    .command('verify')
    .description('replay stored saga histories through new saga definitions before a deploy; report where they diverge (exit 6)')
    .option('--sagas <module|dir>', 'the saga definitions to verify (default: config sagas, else the bundled sagas/)')
    .option('--from <file>', 'an export of `sagaflow sagas export` (default: the configured database)')
    .option('--saga <name>', 'only this saga (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--all', 'list every instance, not only those that are not ok')
    .action(async (o: VerifyOptions, cmd: Command) => {
      const opts = globals(cmd);
      const { config } = resolveConfig(opts, ctx, { sagas: o.sagas });
      const [{ loadSagas }, { verifyInstances }] = await Promise.all([import('../../daemon/load-sagas.js'), import('../../app/verify.js')]);
      const definitions = await loadSagas(config.sagas, ctx.cwd);
      const options = { includeOk: o.all ?? false };
      let outcome;
      if (o.from) {
        const file = path.resolve(ctx.cwd, o.from);
        if (!existsSync(file)) throw new ValidationError('--from', [{ path: '--from', message: `${o.from} does not exist` }]);
        outcome = await verifyInstances(definitions, fromFile(file, o.saga), options);
      } else {
        const { exportSagaInstances } = await import('../../postgres/saga-export.js');
        outcome = await withDatabase(opts, ctx, (db, schema) => verifyInstances(definitions, exportSagaInstances(db, { schema, ...(o.saga ? { sagas: o.saga } : {}) }), options));
      }
      ctx.output.out(opts.json ? json(outcome) : report(outcome.results, outcome.summary, ctx.output));
      if (!outcome.summary.ok) onExit(ExitCode.VerifyFailed);
    });
}
