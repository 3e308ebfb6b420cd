import type { Logger } from 'pino';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import type { ProjectionDefinition } from '../core/sourcing/projection.js';
import type { HandlerDefinition } from '../core/worker/define-handler.js';
import type { Daemon } from './daemon.js';

interface ExampleWorkersModule {
  exampleWorkers: readonly HandlerDefinition[];
  startDemoTraffic: (publish: (e: { type: string; streamId: string; data: Record<string, unknown> }) => Promise<unknown>, options?: { onError?: (err: unknown) => void }) => () => void;
}

/**
 * `sagaflow run --demo`: the bundled example sagas, their services as in-process workers
 * (`sagas/example-workers`), and traffic that publishes a task every second through the daemon's own publish.
 */
export async function loadDemo(): Promise<{ sagas: SagaDefinition[]; handlers: HandlerDefinition[]; projections: ProjectionDefinition[]; startTraffic: (daemon: Daemon, logger: Logger) => () => void }> {
  const sagasModule = (await import(new URL('../../sagas/index.js', import.meta.url).href)) as { exampleSagas: readonly SagaDefinition[]; exampleProjections: readonly ProjectionDefinition[] };
  const workers = (await import(new URL('../../sagas/example-workers.js', import.meta.url).href)) as ExampleWorkersModule;
  return {
    sagas: [...sagasModule.exampleSagas],
    handlers: [...workers.exampleWorkers],
    projections: [...sagasModule.exampleProjections],
    startTraffic: (daemon, logger) => {
      logger.info('demo: publishing a task every second (and a collaboration every fifth); watch with `sagaflow sagas list`');
      return workers.startDemoTraffic((e) => daemon.engine.operator.publish(e), { onError: (err) => logger.warn({ err }, 'demo publish failed') });
    },
  };
}
