import type { Command } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { globals, resolveConfig, type CliContext } from '../context.js';

interface RunOptions {
  sagas?: string;
  bus?: string;
  host?: string;
  port?: string;
  demo?: boolean;
}

/** `sagaflow run`: the daemon, until SIGINT/SIGTERM. */
export function runCommand(program: Command, ctx: CliContext, onExit: (code: number) => void): void {
  program
    .command('run')
    .description('run the daemon: migrate, start the sagas, outbox relay, timer poller and the HTTP API (127.0.0.1:7070)')
    .option('--sagas <module|dir>', 'saga definitions (default: the bundled sagas/)')
    .option('--bus <type>', 'memory, redis or hybrid (EVENT_BUS_TYPE)')
    .option('--host <host>', 'HTTP listen address (SAGAFLOW_HTTP_HOST)')
    .option('--port <port>', 'HTTP port, 0 = any free port (SAGAFLOW_HTTP_PORT)')
    .option('--demo', 'run the example sagas with their services as in-process workers, and publish a task every second')
    .action(async (o: RunOptions, cmd: Command) => {
      const opts = globals(cmd);
      const [{ startDaemon }, { handleShutdownSignals }, { createLogger }] = await Promise.all([
        import('../../daemon/daemon.js'),
        import('../../daemon/signals.js'),
        import('../../observability/logger.js'),
      ]);
      const { config } = resolveConfig(opts, ctx, { sagas: o.sagas, 'bus.type': o.bus, 'http.host': o.host, 'http.port': o.port });
      const logger = createLogger({ level: opts.debug ? 'debug' : config.log.level, format: config.log.format });
      if (o.demo && config.sagas !== undefined) throw new ConfigError('--demo runs the bundled example sagas; it cannot be combined with --sagas / SAGAFLOW_SAGAS', { key: 'sagas', value: config.sagas });
      const demo = o.demo ? await import('../../daemon/demo.js') : undefined;
      const examples = demo ? await demo.loadDemo() : undefined;
      const daemon = await startDaemon({ config, logger, ...(examples ? { sagas: examples.sagas, handlers: examples.handlers, projections: examples.projections } : {}) });
      const stopTraffic = examples?.startTraffic(daemon, logger);
      // Resolves when the daemon stopped; `exit` is the process exit after a graceful stop or a forced one.
      await new Promise<void>((resolve) => {
        handleShutdownSignals(() => {
          stopTraffic?.();
          return daemon.stop();
        }, {
          timeoutMs: config.shutdownTimeoutMs,
          logger,
          exit: (code) => {
            onExit(code);
            // A forced stop (second signal, timeout) cannot wait for handles to close: exit now.
            if (code !== 0) process.exit(code);
            resolve();
          },
        });
      });
    });
}
