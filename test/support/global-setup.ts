import net from 'node:net';
import { databaseUrl, redisUrl, requireServices } from './services.js';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Says which tiers run, and fails fast when services are required but missing or unreachable. */
export default async function setup(): Promise<void> {
  // Every vitest project inherits this setup; check and print once per run.
  const g = globalThis as { sagaflowTiersChecked?: boolean };
  if (g.sagaflowTiersChecked) return;
  g.sagaflowTiersChecked = true;
  const lines: string[] = [];
  for (const [name, url, port, env] of [
    ['Postgres', databaseUrl, 5432, 'SAGAFLOW_TEST_DATABASE_URL'],
    ['Redis', redisUrl, 6379, 'SAGAFLOW_TEST_REDIS_URL'],
  ] as const) {
    if (!url) {
      if (requireServices) throw new Error(`SAGAFLOW_REQUIRE_SERVICES=1 but ${env} is not set`);
      lines.push(`[sagaflow tests] ${name} tier SKIPPED: ${env} is not set (PGlite and memory tiers still run)`);
      continue;
    }
    if (!(await reachable(url, port))) {
      const msg = `${name} at ${url} is unreachable (${env})`;
      if (requireServices) throw new Error(`SAGAFLOW_REQUIRE_SERVICES=1: ${msg}`);
      throw new Error(`${msg}; unset ${env} to skip that tier`);
    }
    lines.push(`[sagaflow tests] ${name} tier runs against ${url}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
