import { Redis } from 'ioredis';
import { createRedisBus, type RedisBusOptions, type RedisEventBus } from '../../src/redis/redis-event-bus.js';
import type { BusHarness } from './event-bus-suite.js';

/** Deletes every key under `prefix` (SCAN, bounded). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    for (let i = 0; i < 1000; i++) {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await r.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    r.disconnect();
  }
}

/** A Redis bus harness with a unique key prefix and short claim times, cleaned up on dispose. */
export function redisBusHarness(url: string, extra: Partial<RedisBusOptions> = {}): BusHarness & { prefix: string; buses: RedisEventBus[] } {
  const prefix = `test:${crypto.randomUUID()}:`;
  const buses: RedisEventBus[] = [];
  return {
    prefix,
    buses,
    createBus: async ({ deadLetters }) => {
      const bus = createRedisBus({ url, prefix: `${prefix}events`, deadLetters, claimIdleMs: 300, claimIntervalMs: 100, blockMs: 200, ...extra });
      buses.push(bus);
      return bus;
    },
    dispose: async () => {
      await Promise.all(buses.map((b) => b.stop({ drainTimeoutMs: 100 })));
      await deleteKeys(url, prefix);
    },
  };
}

/** A private redis-server on a free 127.0.0.1 port with fsync-always AOF, for restart tests (never the shared 6379). */
export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILLs the server (no shutdown save). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `redis-server --appendonly yes --appendfsync always --dir <tmpdir>` on a free port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const { spawn } = await import('node:child_process');
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'sagaflow-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ReturnType<typeof spawn> | undefined;
  const launch = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--save', ''], {
      stdio: 'ignore',
    });
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const until = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > until) throw new Error(`private redis-server on port ${port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await launch();
  return { url, port, kill, restart: launch, dispose: async () => {
    await kill();
    await rm(dir, { recursive: true, force: true });
  } };
}
