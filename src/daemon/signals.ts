import type { Logger } from 'pino';

/**
 * SIGINT/SIGTERM: the first signal starts a graceful `stop()` bounded by `timeoutMs`; a second
 * signal, or the timeout, forces exit. Returns a function that removes the handlers.
 */
export function handleShutdownSignals(
  stop: () => Promise<void>,
  options: { timeoutMs: number; logger: Logger; exit?: (code: number) => void },
): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      options.logger.warn({ signal }, 'second signal: forcing exit');
      exit(130);
      return;
    }
    signalled = true;
    options.logger.info({ signal }, `${signal} received: shutting down (send again to force)`);
    const force = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out: forcing exit');
      exit(1);
    }, options.timeoutMs + 2000);
    force.unref();
    stop().then(
      () => {
        clearTimeout(force);
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(force);
        options.logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
