import type { Command } from 'commander';
import { ApiClient } from '../../api/client.js';
import type { WaitCondition } from '../../api/wait-for.js';
import { UnavailableError, ValidationError } from '../../core/errors.js';
import type { SagaStatus } from '../../core/ports/saga-store.js';
import { globals, withOperator, type CliContext } from '../context.js';
import { json, show } from '../output.js';
import { parseDurationArg } from '../parse-input.js';

interface WaitOptions {
  state?: string;
  tag?: string;
  status?: string;
  timeout: string;
}

/** The one condition given (`--state`, `--tag` or `--status`). */
function conditionOf(o: WaitOptions): WaitCondition {
  const given = [o.state !== undefined, o.tag !== undefined, o.status !== undefined].filter(Boolean).length;
  if (given !== 1) throw new ValidationError('sagas wait', [{ path: '--state/--tag/--status', message: 'give exactly one of --state, --tag or --status' }]);
  if (o.state !== undefined) return { state: o.state };
  if (o.tag !== undefined) return { tag: o.tag };
  return { status: o.status as SagaStatus };
}

/** `sagaflow sagas wait <saga> <key> --state X | --tag T | --status S [--timeout 30s]`: over a running daemon's WebSocket. */
export function sagasWaitCommand(sagas: Command, ctx: CliContext): void {
  sagas
    .command('wait')
    .description('wait until an instance reaches a state, tag or status (needs a running daemon); exit 7 on timeout')
    .argument('<saga>')
    .argument('<key>')
    .option('--state <path>', 'a state, dotted for nested ones (compensating.awaitingReply); a parent state counts while a child is active')
    .option('--tag <tag>', 'a tag of an active state')
    .option('--status <status>', 'running, completed, compensating, compensated, failed or suspended')
    .option('--timeout <duration>', 'give up after this long (exit 7)', '30s')
    .action(async (saga: string, key: string, o: WaitOptions, cmd: Command) => {
      const opts = globals(cmd);
      const condition = conditionOf(o);
      const timeoutMs = parseDurationArg('--timeout', o.timeout);
      const instance = await withOperator(opts, ctx, (api, route) => {
        if (!(api instanceof ApiClient) || route.kind !== 'daemon') {
          throw new UnavailableError('sagas wait follows a running daemon\'s live stream: start one (sagaflow run) or point --url at one');
        }
        return api.waitFor(saga, key, condition, { timeoutMs });
      });
      ctx.output.out(opts.json ? json(instance) : `${saga} ${key}: ${instance.status}, state ${show(instance.state)}`);
    });
}
