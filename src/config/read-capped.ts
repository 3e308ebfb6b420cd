import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Why a file could not be read: a one-line reason for the caller's error (`ENOENT`, "is not a regular file"…). */
export class ReadCappedError extends Error {}

/**
 * Reads a text file of at most `maxBytes`: a regular file (a device such as `/dev/zero`, a directory or a
 * FIFO is refused before reading), or standard input (`fd 0`, read in chunks up to the cap). Never reads
 * more than `maxBytes + 1` bytes, whatever the file is.
 */
export function readTextCapped(file: string | URL | 0, maxBytes: number): string {
  let fd: number;
  try {
    fd = file === 0 ? 0 : openSync(file, 'r');
  } catch (err) {
    throw new ReadCappedError((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  try {
    if (file !== 0 && !fstatSync(fd).isFile()) throw new ReadCappedError('is not a regular file');
    const buf = Buffer.alloc(maxBytes + 1);
    let size = 0;
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, size, buf.length - size, null);
      } catch (err) {
        // A non-blocking standard input with nothing yet: wait a little and read again.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
          continue;
        }
        throw new ReadCappedError((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
      if (n === 0) break;
      size += n;
      if (size > maxBytes) throw new ReadCappedError(`is larger than ${maxBytes} bytes`);
    }
    return buf.subarray(0, size).toString('utf8');
  } finally {
    if (file !== 0) closeSync(fd);
  }
}
