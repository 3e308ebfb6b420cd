import type { Logger } from 'pino';
import { PostgresTransitionLog } from '../postgres/transition-log.js';
import { LiveFeed } from '../runtime/live-feed.js';
import type { OpenedDatabase } from './database.js';
import type { Engine } from './engine.js';

/**
 * The live feed of the daemon (WebSocket bridge, dashboard, `waitFor`): the event log and the saga history
 * followed from their heads, woken by the log's commit notifications (any daemon's), polled as a backstop.
 */
export function buildLiveFeed(engine: Engine, database: OpenedDatabase, schema: string, logger: Logger): LiveFeed {
  const { db } = database;
  const channel = engine.store.channel;
  return new LiveFeed({
    events: engine.store,
    transitions: new PostgresTransitionLog(db, { schema, appendLock: engine.store.appendLock }),
    ...(db.listen ? { listen: (onWake: () => void) => db.listen!(channel, () => onWake()) } : {}),
    logger,
  });
}
