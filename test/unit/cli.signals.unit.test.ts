import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { handleShutdownSignals } from '../../src/daemon/signals.js';

const logger = pino({ level: 'silent' });
let remove: (() => void) | undefined;
afterEach(() => {
  remove?.();
  remove = undefined;
  vi.useRealTimers();
});

describe('shutdown signals', () => {
  it('the first signal stops gracefully and exits 0', async () => {
    const exits: number[] = [];
    let stopped = false;
    remove = handleShutdownSignals(async () => void (stopped = true), { timeoutMs: 1000, logger, exit: (c) => void exits.push(c) });
    process.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(() => expect(exits).toEqual([0]));
    expect(stopped).toBe(true);
  });

  it('a second signal forces exit 130 while the stop hangs', async () => {
    const exits: number[] = [];
    let calls = 0;
    remove = handleShutdownSignals(() => ((calls++), new Promise<void>(() => {})), { timeoutMs: 60_000, logger, exit: (c) => void exits.push(c) });
    process.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([]);
    process.emit('SIGTERM', 'SIGTERM');
    expect(exits).toEqual([130]);
    expect(calls).toBe(1);
  });

  it('a stop that outlives the timeout forces exit 1', async () => {
    vi.useFakeTimers();
    const exits: number[] = [];
    remove = handleShutdownSignals(() => new Promise<void>(() => {}), { timeoutMs: 5000, logger, exit: (c) => void exits.push(c) });
    process.emit('SIGTERM', 'SIGTERM');
    vi.advanceTimersByTime(6999);
    expect(exits).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(exits).toEqual([1]);
  });

  it('a failing stop exits 1', async () => {
    const exits: number[] = [];
    remove = handleShutdownSignals(() => Promise.reject(new Error('db gone')), { timeoutMs: 1000, logger, exit: (c) => void exits.push(c) });
    process.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(() => expect(exits).toEqual([1]));
  });
});
