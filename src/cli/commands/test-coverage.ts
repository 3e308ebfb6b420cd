import path from 'node:path';
import type { Command } from 'commander';
import type { CoverageReport } from '../../testing/coverage.js';
import { ErrorCode, SagaflowError, ValidationError } from '../../core/errors.js';
import { globals, resolveConfig, type CliContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { json } from '../output.js';

interface CoverageOptions {
  dir?: string;
  sagas?: string;
  failUnder?: string;
}

function text(r: CoverageReport): string {
  const t = r.transitions;
  const reachable = t.total - t.unreachable.length;
  return [
    `${r.saga}: ${r.steps} kit step(s) recorded`,
    `states:      ${r.states.exercised.length}/${r.states.total} exercised${r.states.missed.length ? `; not: ${r.states.missed.join(', ')}` : ''}`,
    `transitions: ${reachable - t.missed.length}/${reachable} reachable exercised (${t.percent}%); ${t.unreachable.length} unreachable of ${t.total}`,
    ...t.missed.map((m) => `  not exercised: ${m}`),
    ...t.unreachable.map((m) => `  unreachable:   ${m}`),
    `paths no kit test took (${r.pathsNotExercised.length}):`,
    ...r.pathsNotExercised.map((p) => `  ${p.name}  (misses ${p.missed.join(', ')})`),
  ].join('\n');
}

/** `sagaflow test-coverage <saga> [--dir DIR] [--fail-under PCT]`: what the kit tests exercised of the statechart. */
export function testCoverageCommand(program: Command, ctx: CliContext, onExit: (code: number) => void): void {
  program
    .command('test-coverage')
    .description('states and transitions of a saga the kit tests exercised (run them with SAGAFLOW_COVERAGE_DIR set), and the generated paths none took')
    .argument('<saga>')
    .option('--dir <dir>', 'the coverage directory (default: SAGAFLOW_COVERAGE_DIR, else ./coverage/sagas)')
    .option('--sagas <module|dir>', 'where the saga definitions are (default: config sagas, else the bundled sagas/)')
    .option('--fail-under <percent>', 'exit 6 when fewer reachable transitions were exercised')
    .action(async (name: string, o: CoverageOptions, cmd: Command) => {
      const opts = globals(cmd);
      const min = o.failUnder === undefined ? undefined : Number(o.failUnder);
      if (min !== undefined && !(min >= 0 && min <= 100)) throw new ValidationError('--fail-under', [{ path: '--fail-under', message: `"${o.failUnder}" is not a percentage (0–100)` }]);
      const { config } = resolveConfig(opts, ctx, { sagas: o.sagas });
      const [{ loadSagas }, { pathsOf }, { coverageReport, readCoverage, COVERAGE_DIR_ENV }] = await Promise.all([
        import('../../daemon/load-sagas.js'),
        import('../../testing/paths.js'),
        import('../../testing/coverage.js'),
      ]);
      const sagas = await loadSagas(config.sagas, ctx.cwd);
      const saga = sagas.find((s) => s.name === name);
      if (!saga) throw new SagaflowError(ErrorCode.NotFound, `unknown saga "${name}"; known sagas: ${sagas.map((s) => s.name).join(', ') || '(none)'}`, { details: { what: 'saga', id: name } });
      const dir = path.resolve(ctx.cwd, o.dir ?? ctx.env[COVERAGE_DIR_ENV] ?? 'coverage/sagas');
      const report = coverageReport(saga, readCoverage(dir, saga.name), pathsOf(saga));
      ctx.output.out(opts.json ? json(report) : text(report));
      if (min !== undefined && report.transitions.percent < min) onExit(ExitCode.VerifyFailed);
    });
}
