import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock, ensureTokenFile, readDaemonInfo, removeDaemonInfo, writeDaemonInfo } from '../../src/daemon/daemon-files.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-files-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('daemon files', () => {
  it('creates the API token once, mode 0600, and tightens a loose one', () => {
    const token = ensureTokenFile(dir);
    expect(token.length).toBeGreaterThanOrEqual(40);
    const file = path.join(dir, 'api-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ensureTokenFile(dir)).toBe(token);
    chmodSync(file, 0o644);
    expect(ensureTokenFile(dir)).toBe(token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('writes and removes daemon.json (only its own)', () => {
    writeDaemonInfo(dir, { pid: process.pid, url: 'http://127.0.0.1:1', startedAt: 'now', database: 'pglite', schema: 's' });
    expect(readDaemonInfo(dir)?.url).toBe('http://127.0.0.1:1');
    removeDaemonInfo(dir, process.pid + 1);
    expect(readDaemonInfo(dir)).toBeDefined();
    removeDaemonInfo(dir);
    expect(readDaemonInfo(dir)).toBeUndefined();
  });

  it('the data directory lock refuses a live holder and takes over a dead one', () => {
    const lockFile = path.join(dir, 'pglite.lock');
    // pid 1 always exists.
    writeFileSync(lockFile, JSON.stringify({ pid: 1, role: 'daemon', since: 'x' }));
    const held = acquireDataDirLock(dir, 'cli');
    expect(held).toEqual({ heldBy: { pid: 1, role: 'daemon', since: 'x' } });

    writeFileSync(lockFile, JSON.stringify({ pid: 2 ** 22 + 7, role: 'daemon', since: 'x' }));
    const taken = acquireDataDirLock(dir, 'cli');
    expect('release' in taken).toBe(true);
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toMatchObject({ pid: process.pid, role: 'cli' });
    if ('release' in taken) taken.release();
    expect(() => statSync(lockFile)).toThrow();
  });
});
