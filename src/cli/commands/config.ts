import type { Command } from 'commander';
import { stringify } from 'yaml';
import { redactConfig } from '../../config/load-config.js';
import { globals, resolveConfig, type CliContext } from '../context.js';
import { json } from '../output.js';

/** `sagaflow config`: the resolved configuration, secrets redacted. */
export function configCommand(program: Command, ctx: CliContext): void {
  program
    .command('config')
    .description('print the resolved configuration (defaults < sagaflow.yaml < environment < flags), secrets redacted')
    .action((_opts: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const { config, file } = resolveConfig(opts, ctx);
      const redacted = redactConfig(config);
      if (opts.json) ctx.output.out(json({ file: file ?? null, config: redacted }));
      else ctx.output.out(`# config file: ${file ?? '(none)'}\n${stringify(redacted)}`);
    });
}
