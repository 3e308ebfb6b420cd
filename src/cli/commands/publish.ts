import type { Command } from 'commander';
import { globals, reasonOption, withOperator, withReason, type CliContext } from '../context.js';
import { json } from '../output.js';
import { parseJsonObjectArg } from '../parse-input.js';

interface PublishOptions {
  data: string;
  stream?: string;
  metadata?: string;
  id?: string;
  reason?: string;
}

/** `sagaflow publish <type> --data <json|@file>`: validates against the registry, prints the event id. */
export function publishCommand(program: Command, ctx: CliContext): void {
  program
    .command('publish')
    .description('publish an event (validated against the sagas\' schemas); prints its id')
    .argument('<type>', 'event type, e.g. task.created')
    .requiredOption('--data <json|@file>', 'event data: a JSON object, or @path to a JSON file (@- reads stdin)')
    .option('--stream <id>', 'stream id (default: the event id)')
    .option('--metadata <json>', 'metadata: a JSON object of strings (correlationId, ...)')
    .option('--id <uuid>', 'event id (idempotent retries: the same id is stored once)')
    .addOption(reasonOption())
    .action(async (type: string, o: PublishOptions, cmd: Command) => {
      const opts = globals(cmd);
      const data = parseJsonObjectArg('--data', o.data, ctx.cwd);
      const metadata = o.metadata === undefined ? undefined : (parseJsonObjectArg('--metadata', o.metadata, ctx.cwd) as Record<string, string>);
      const result = await withOperator(opts, ctx, (api) =>
        api.publish({ type, data, ...(o.stream ? { streamId: o.stream } : {}), ...(metadata ? { metadata } : {}), ...(o.id ? { id: o.id } : {}) }),
      withReason(o));
      ctx.output.out(opts.json ? json(result) : result.id);
    });
}
