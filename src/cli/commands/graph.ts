import type { Command } from 'commander';
import { ErrorCode, SagaflowError, ValidationError } from '../../core/errors.js';
import { globals, resolveConfig, type CliContext } from '../context.js';
import { json } from '../output.js';

/** `sagaflow graph <saga> [--format mermaid|json]`: the statechart, from the saga definition (no database). */
export function graphCommand(program: Command, ctx: CliContext): void {
  program
    .command('graph')
    .description('print a saga\'s statechart as a Mermaid diagram or JSON (states and transitions)')
    .argument('<saga>')
    .option('--format <format>', 'mermaid or json', 'mermaid')
    .option('--sagas <module|dir>', 'where the saga definitions are (default: config sagas, else the bundled sagas/)')
    .action(async (name: string, o: { format: string; sagas?: string }, cmd: Command) => {
      const opts = globals(cmd);
      if (o.format !== 'mermaid' && o.format !== 'json') throw new ValidationError('--format', [{ path: '--format', message: `"${o.format}" is not one of mermaid, json` }]);
      const { config } = resolveConfig(opts, ctx, { sagas: o.sagas });
      const [{ sagaGraph, sagaMermaid }, { loadSagas }] = await Promise.all([import('../../core/saga/graph.js'), import('../../daemon/load-sagas.js')]);
      const sagas = await loadSagas(config.sagas, ctx.cwd);
      const saga = sagas.find((s) => s.name === name);
      if (!saga) throw new SagaflowError(ErrorCode.NotFound, `unknown saga "${name}"; known sagas: ${sagas.map((s) => s.name).join(', ') || '(none)'}`, { details: { what: 'saga', id: name } });
      ctx.output.out(o.format === 'json' || opts.json ? json(sagaGraph(saga.machine)) : sagaMermaid(saga.machine));
    });
}
