import { Command, CommanderError, Option } from 'commander';
import { ExitCode, exitCodeOf } from './exit-codes.js';
import { processOutput, type Output } from './output.js';
import type { CliContext } from './context.js';
import { auditCommand } from './commands/audit.js';
import { configCommand } from './commands/config.js';
import { dlqCommand } from './commands/dlq.js';
import { eventsCommand } from './commands/events.js';
import { graphCommand } from './commands/graph.js';
import { initCommand } from './commands/init.js';
import { migrateCommand } from './commands/migrate.js';
import { projectionsCommand } from './commands/projections.js';
import { publishCommand } from './commands/publish.js';
import { replayCommand } from './commands/replay.js';
import { runCommand } from './commands/run.js';
import { sagasCommand } from './commands/sagas.js';
import { statusCommand } from './commands/status.js';
import { testCoverageCommand } from './commands/test-coverage.js';
import { verifyCommand } from './commands/verify.js';

export interface MainOptions {
  output?: Output;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** Builds the `sagaflow` program. Commands only parse arguments and call the library. */
export function buildProgram(ctx: CliContext, onExit: (code: number) => void): Command {
  const program = new Command('sagaflow')
    .description('durable saga orchestration on xstate and Postgres')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .addOption(new Option('--config <file>', 'config file (default: ./sagaflow.yaml when present)'))
    .addOption(new Option('--data-dir <dir>', 'data directory (SAGAFLOW_DATA_DIR, default ./.sagaflow)'))
    .addOption(new Option('--database-url <url>', 'Postgres URL (DATABASE_URL); unset = embedded PGlite'))
    .addOption(new Option('--schema <name>', 'database schema (SAGAFLOW_SCHEMA, default sagaflow)'))
    .addOption(new Option('--url <url>', 'daemon API URL (SAGAFLOW_URL); default: found through <data-dir>/daemon.json'))
    .addOption(new Option('--token <token>', 'API token (SAGAFLOW_API_TOKEN); default: <data-dir>/api-token'))
    .addOption(new Option('--log-level <level>', 'daemon log level (SAGAFLOW_LOG_LEVEL)'))
    .addOption(new Option('--log-format <format>', 'auto, pretty or json (SAGAFLOW_LOG_FORMAT)'))
    .option('--json', 'machine-readable JSON output')
    .option('--wide', 'tables at full width (default: fitted to the terminal, long cells wrapped)')
    .option('--debug', 'show stack traces of errors')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.output.out(s.replace(/\n$/, '')), writeErr: (s) => ctx.output.err(s.replace(/\n$/, '')) });
  runCommand(program, ctx, onExit);
  initCommand(program, ctx);
  configCommand(program, ctx);
  statusCommand(program, ctx);
  migrateCommand(program, ctx);
  publishCommand(program, ctx);
  eventsCommand(program, ctx);
  dlqCommand(program, ctx);
  sagasCommand(program, ctx, onExit);
  replayCommand(program, ctx);
  graphCommand(program, ctx);
  projectionsCommand(program, ctx);
  verifyCommand(program, ctx, onExit);
  testCoverageCommand(program, ctx, onExit);
  auditCommand(program, ctx);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  return program;
}

/**
 * Runs the CLI and returns the process exit code (see `docs/cli.md`): errors print one line
 * (`sagaflow: <message>`), with `--debug` the stack too; with `--json` also `{ "error": {...} }` on stdout.
 */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const base = options.output ?? processOutput;
  // --wide: tables at their natural width (a getter on the process output, so read through a wrapper).
  const output = argv.includes('--wide') ? { out: base.out, err: base.err, isTTY: base.isTTY, columns: undefined } : base;
  const ctx: CliContext = { output, env: options.env ?? process.env, cwd: options.cwd ?? process.cwd() };
  let exitCode: number = ExitCode.Ok;
  const program = buildProgram(ctx, (code) => {
    exitCode = code;
  });
  const debug = argv.includes('--debug');
  const wantsJson = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed by commander.
      return err.exitCode === 0 ? ExitCode.Ok : ExitCode.BadInput;
    }
    const code = exitCodeOf(err);
    const e = err as Error & { toJSON?: () => unknown };
    ctx.output.err(`sagaflow: ${e?.message ?? String(err)}`);
    if (debug && e?.stack) ctx.output.err(e.stack);
    else if (code === ExitCode.Failure) ctx.output.err('(run with --debug for the stack trace)');
    if (wantsJson) {
      const body = typeof e?.toJSON === 'function' ? e.toJSON() : { code: 'INTERNAL', message: e?.message ?? String(err), details: {} };
      ctx.output.out(JSON.stringify({ error: body }));
    }
    return code;
  }
}
