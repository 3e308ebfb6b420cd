import type { Command } from 'commander';
import { auditQueryParams, parseWith } from '../../api/request-schemas.js';
import { globals, withOperator, type CliContext } from '../context.js';
import { json, show, table, when } from '../output.js';
import { parseLimit } from '../parse-input.js';

/** `sagaflow audit [--since 1h|ISO] [--limit n] [--json]`: the audit log of changes made through the API, newest first. */
export function auditCommand(program: Command, ctx: CliContext): void {
  program
    .command('audit')
    .description('list the audit log: who changed what through the API, when and why (newest first)')
    .option('--since <time>', 'entries since an ISO time, or a duration ago (1h, 2d)')
    .option('--limit <n>', 'at most n (default 100)')
    .action(async (o: { since?: string; limit?: string }, cmd: Command) => {
      const opts = globals(cmd);
      const limit = parseLimit('--limit', o.limit);
      const since = parseWith(auditQueryParams, { ...(o.since !== undefined ? { since: o.since } : {}) }, 'audit options').since;
      const entries = await withOperator(opts, ctx, (api) => api.listAudit({ ...(since ? { since } : {}), ...(limit ? { limit } : {}) }));
      if (opts.json) return void ctx.output.out(json(entries));
      if (entries.length === 0) return void ctx.output.out('no audit entries');
      ctx.output.out(
        table(
          ['when', 'who', 'action', 'target', 'outcome', 'reason', 'after'],
          entries.map((e) => [when(e.at), e.actor, e.action, e.target, e.outcome, e.reason, e.after === undefined ? '' : show(e.after)]),
          ctx.output,
        ),
      );
    });
}
