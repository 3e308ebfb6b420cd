import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Files the daemon keeps in the data directory so the CLI can find it:
 * `api-token` (mode 0600) and `daemon.json` (URL, pid) while it runs.
 */

/** What `daemon.json` holds. */
export interface DaemonInfo {
  pid: number;
  url: string;
  startedAt: string;
  database: 'postgres' | 'pglite';
  schema: string;
}

export const TOKEN_FILE = 'api-token';
export const DAEMON_FILE = 'daemon.json';

export function tokenPath(dataDir: string): string {
  return path.join(dataDir, TOKEN_FILE);
}

export function daemonInfoPath(dataDir: string): string {
  return path.join(dataDir, DAEMON_FILE);
}

/**
 * Returns the API token in `<dataDir>/api-token`, creating it (32 random bytes, base64url) with
 * mode 0600 when missing. A file readable by others is tightened to 0600.
 */
export function ensureTokenFile(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = tokenPath(dataDir);
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 16) {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      return token;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('base64url');
  // 'w' with mode applies only on creation; chmod covers a file that existed but was empty.
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** Reads the token file, or undefined when there is none. */
export function readTokenFile(dataDir: string): string | undefined {
  try {
    const t = readFileSync(tokenPath(dataDir), 'utf8').trim();
    return t.length > 0 ? t : undefined;
  } catch {
    return undefined;
  }
}

export function writeDaemonInfo(dataDir: string, info: DaemonInfo): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = daemonInfoPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  // rename is atomic: a CLI never reads a half-written file.
  renameSync(tmp, file);
}

export function readDaemonInfo(dataDir: string): DaemonInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(daemonInfoPath(dataDir), 'utf8')) as DaemonInfo;
    return typeof info.url === 'string' && typeof info.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Removes `daemon.json` if it is ours (another daemon may have replaced it). */
export function removeDaemonInfo(dataDir: string, pid = process.pid): void {
  const info = readDaemonInfo(dataDir);
  if (info && info.pid !== pid) return;
  rmSync(daemonInfoPath(dataDir), { force: true });
}

/** True when a process with this pid exists (signal 0 probes without sending anything). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds the embedded database's data directory. */
export interface DataDirLock {
  pid: number;
  role: 'daemon' | 'cli';
  since: string;
}

export const LOCK_FILE = 'pglite.lock';

function readLock(file: string): DataDirLock | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DataDirLock;
  } catch {
    return undefined;
  }
}

/**
 * Takes the embedded database's one-process lock (`<dataDir>/pglite.lock`, created with O_EXCL so
 * two processes cannot both win). A lock left by a dead process is taken over. Returns the holder
 * when another live process has it, else a release function.
 */
export function acquireDataDirLock(dataDir: string, role: DataDirLock['role']): { release: () => void } | { heldBy: DataDirLock } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, JSON.stringify({ pid: process.pid, role, since: new Date().toISOString() }), { flag: 'wx', mode: 0o600 });
      return {
        release: () => {
          if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readLock(file);
      if (holder && holder.pid !== process.pid && isProcessAlive(holder.pid)) return { heldBy: holder };
      // Stale (dead holder or unreadable): remove and try again. Two racers both removing is fine:
      // only one of them wins the O_EXCL create.
      rmSync(file, { force: true });
    }
  }
  const holder = readLock(file);
  return { heldBy: holder ?? { pid: 0, role: 'cli', since: '' } };
}
